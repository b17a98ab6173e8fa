"""Kubernetes adapters: the target Deployment's `-primary` clone, the Canary's Services,
config tracking (the `-primary` copies of ConfigMaps and Secrets) and the primary's HPA.

Pure builders return the manifests and patches; the `async` appliers read, compare and
write through one `kubernetes.aio` ApiClient (`new_api_client`).
"""

from canary_operator.kube.autoscalers import (
    AutoscalerError,
    build_primary_hpa,
    build_primary_hpa_patch,
    canary_min_replicas,
    ensure_primary_hpa,
    primary_hpa_name,
)
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
from canary_operator.kube.configs import (
    ConfigError,
    ConfigRef,
    ConfigRefs,
    TrackedConfigs,
    build_primary_config,
    build_primary_config_patch,
    config_refs,
    ensure_primary_configs,
    read_tracked_configs,
    rename_config_refs,
    tracked_checksums,
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
    "AutoscalerError",
    "ConfigError",
    "ConfigRef",
    "ConfigRefs",
    "TargetError",
    "TrackedConfigs",
    "build_primary_config",
    "build_primary_config_patch",
    "build_primary_deployment",
    "build_primary_hpa",
    "build_primary_hpa_patch",
    "build_promotion_patch",
    "build_service_patch",
    "build_services",
    "canary_min_replicas",
    "close_api_client",
    "config_refs",
    "ensure_primary",
    "ensure_primary_configs",
    "ensure_primary_hpa",
    "ensure_services",
    "is_owned_by",
    "merge_patch",
    "new_api_client",
    "owner_reference",
    "pod_template_hash",
    "primary_hpa_name",
    "primary_name",
    "promote",
    "read_json",
    "read_json_or_none",
    "read_tracked_configs",
    "rename_config_refs",
    "scale",
    "selector_label",
    "tracked_checksums",
]
