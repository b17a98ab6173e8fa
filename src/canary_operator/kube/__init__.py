"""Kubernetes adapters: the target Deployment's `-primary` clone and the Canary's Services.

Pure builders return the manifests and patches; the `async` appliers read, compare and
write through one `kubernetes.aio` ApiClient (`new_api_client`).
"""

from canary_operator.kube.client import (
    FIELD_MANAGER,
    ROUTER_ANNOTATIONS,
    close_api_client,
    is_owned_by,
    merge_patch,
    new_api_client,
    owner_reference,
    read_json,
    read_json_or_none,
)
from canary_operator.kube.services import build_service_patch, build_services, ensure_services
from canary_operator.kube.workloads import (
    SELECTOR_LABELS,
    TargetError,
    build_primary_deployment,
    build_promotion_patch,
    ensure_primary,
    pod_template_hash,
    primary_name,
    promote,
    scale,
    selector_label,
)

__all__ = [
    "FIELD_MANAGER",
    "ROUTER_ANNOTATIONS",
    "SELECTOR_LABELS",
    "TargetError",
    "build_primary_deployment",
    "build_promotion_patch",
    "build_service_patch",
    "build_services",
    "close_api_client",
    "ensure_primary",
    "ensure_services",
    "is_owned_by",
    "merge_patch",
    "new_api_client",
    "owner_reference",
    "pod_template_hash",
    "primary_name",
    "promote",
    "read_json",
    "read_json_or_none",
    "scale",
    "selector_label",
]
