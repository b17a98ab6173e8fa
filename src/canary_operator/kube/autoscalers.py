"""The primary's HorizontalPodAutoscaler (autoscaling/v2): `<autoscalerRef.name>-primary`,
a copy of the target's HPA aimed at `<target>-primary` (Flagger's HPA reconciler).

The target's HPA keeps scaling the target: while no canary runs the target sits at 0
replicas, where the HPA controller does not scale it.

Unlike Flagger, which updates the primary HPA only on promotion (fluxcd/flagger#214,
#1008, #1674), `build_primary_hpa_patch` compares the copy with the target's HPA as the
watch delivers them and is empty when they agree, so the operator can keep the primary
HPA in step on every tick without a request.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from kubernetes.aio.client import ApiClient, AutoscalingV2Api, V2HorizontalPodAutoscaler
from kubernetes.aio.client.exceptions import ApiException

from canary_operator.api import Canary
from canary_operator.api.canary import AutoscalerRef
from canary_operator.kube.client import (
    FIELD_MANAGER,
    MERGE_PATCH,
    JsonDict,
    merge_patch,
    owner_reference,
    read_json,
)
from canary_operator.kube.configs import adopted_owner_references, copied_metadata
from canary_operator.kube.workloads import PRIMARY_SUFFIX, TargetError, primary_name

HPA_API_VERSION: Final = "autoscaling/v2"
HPA_KIND: Final = "HorizontalPodAutoscaler"
# The spec fields of the copy; everything else in an HPA's spec is defaulted or status.
_SPEC_FIELDS: Final = ("scaleTargetRef", "minReplicas", "maxReplicas", "metrics", "behavior")


class AutoscalerError(TargetError):
    """The Canary's autoscalerRef cannot be served as it is; the message says why."""


def hpa_ref(canary: Canary) -> AutoscalerRef:
    """The Canary's autoscalerRef, when it names a HorizontalPodAutoscaler."""
    ref = canary.spec.autoscaler_ref
    if ref is None:
        raise AutoscalerError(f"Canary {canary.key} has no autoscalerRef")
    if ref.kind != HPA_KIND:
        raise AutoscalerError(f"autoscalerRef.kind {ref.kind} is not supported yet; "
                              "use a HorizontalPodAutoscaler")
    return ref


def primary_hpa_name(canary: Canary) -> str:
    return f"{hpa_ref(canary).name}{PRIMARY_SUFFIX}"


def canary_min_replicas(target_hpa: Mapping[str, Any]) -> int | None:
    """The target HPA's minReplicas (None when unset): what the canary starts with."""
    value = (target_hpa.get("spec") or {}).get("minReplicas")
    return int(value) if value is not None else None


def build_primary_hpa(canary: Canary, target_hpa: Mapping[str, Any]) -> JsonDict:
    """The primary's HPA: the target HPA's spec (replica bounds, metrics, behavior) with
    scaleTargetRef on `<target>-primary`, and minReplicas/maxReplicas from
    `autoscalerRef.primaryScalerReplicas` where set. `target_hpa` is the autoscaling/v2
    JSON of the HPA, as the API returns it."""
    ref = hpa_ref(canary)
    api_version = target_hpa.get("apiVersion")
    if api_version not in (None, HPA_API_VERSION):
        raise ValueError(f"read HorizontalPodAutoscaler {ref.name} as {HPA_API_VERSION}, "
                         f"not {api_version}")
    meta, spec = target_hpa.get("metadata") or {}, target_hpa.get("spec") or {}
    min_replicas, max_replicas = spec.get("minReplicas"), spec.get("maxReplicas")
    bounds = ref.primary_scaler_replicas
    if bounds is not None:
        min_replicas = bounds.min_replicas if bounds.min_replicas is not None else min_replicas
        max_replicas = bounds.max_replicas if bounds.max_replicas is not None else max_replicas
    where = f"HorizontalPodAutoscaler {primary_hpa_name(canary)}.{canary.metadata.namespace}"
    if max_replicas is None:
        raise AutoscalerError(f"{where}: {ref.name} has no spec.maxReplicas")
    if min_replicas is not None and min_replicas > max_replicas:
        raise AutoscalerError(
            f"{where}: minReplicas {min_replicas} is above maxReplicas {max_replicas} "
            "(check autoscalerRef.primaryScalerReplicas)")
    primary_spec: JsonDict = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                           "name": primary_name(canary.spec.target_ref.name)},
        "maxReplicas": max_replicas,
    }
    if min_replicas is not None:
        primary_spec["minReplicas"] = min_replicas
    for key in ("metrics", "behavior"):
        if spec.get(key) is not None:
            primary_spec[key] = copy.deepcopy(spec[key])
    return {
        "apiVersion": HPA_API_VERSION,
        "kind": HPA_KIND,
        "metadata": {
            "name": primary_hpa_name(canary),
            "namespace": canary.metadata.namespace,
            "labels": copied_metadata(meta.get("labels")),
            "annotations": copied_metadata(meta.get("annotations")),
            "ownerReferences": [owner_reference(canary)],
        },
        "spec": primary_spec,
    }


def build_primary_hpa_patch(desired: Mapping[str, Any], live: Mapping[str, Any]) -> JsonDict:
    """The merge patch bringing the live primary HPA to `desired`; {} when in sync.

    The spec (scaleTargetRef, replica bounds, metrics, behavior) is made equal; labels
    and annotations are set, keys others added are kept; the Canary becomes the
    controlling owner if it is not."""
    live_meta, live_spec = live.get("metadata") or {}, live.get("spec") or {}
    want_spec = desired["spec"]
    live_view = {
        "metadata": {"labels": live_meta.get("labels") or {},
                     "annotations": live_meta.get("annotations") or {}},
        "spec": {key: live_spec[key] for key in _SPEC_FIELDS if key in live_spec},
    }
    want_view = {
        "metadata": {
            "labels": {**live_view["metadata"]["labels"], **desired["metadata"]["labels"]},
            "annotations": {**live_view["metadata"]["annotations"],
                            **desired["metadata"]["annotations"]},
        },
        "spec": {key: want_spec[key] for key in _SPEC_FIELDS if key in want_spec},
    }
    patch = merge_patch(live_view, want_view)
    owners = adopted_owner_references(live, desired)
    if owners is not None:
        patch.setdefault("metadata", {})["ownerReferences"] = owners
    return patch


async def ensure_primary_hpa(api: ApiClient, canary: Canary, target_hpa: Mapping[str, Any],
                             live_primary_hpa: Mapping[str, Any] | None) -> JsonDict:
    """Create the primary HPA, or patch it to match the target's; the primary HPA as it
    is afterwards. `live_primary_hpa` is the copy as the watch last saw it (None: none):
    nothing is read, and nothing written when it is in sync."""
    desired = build_primary_hpa(canary, target_hpa)
    hpas = AutoscalingV2Api(api)
    namespace, name = canary.metadata.namespace, desired["metadata"]["name"]
    live: Mapping[str, Any] = live_primary_hpa or {}
    if live_primary_hpa is None:
        try:
            return await read_json(
                hpas.create_namespaced_horizontal_pod_autoscaler_without_preload_content(
                    namespace, V2HorizontalPodAutoscaler.model_validate(desired),
                    field_manager=FIELD_MANAGER))
        except ApiException as error:
            if error.status != 409:
                raise
        # It exists although the watch has not shown it yet: set every field we manage
        # (what we do not know of it is left; the next tick's patch tidies up).
    patch = build_primary_hpa_patch(desired, live)
    if not patch:
        return dict(live)
    return await read_json(
        hpas.patch_namespaced_horizontal_pod_autoscaler_without_preload_content(
            name, namespace, patch, field_manager=FIELD_MANAGER, _content_type=MERGE_PATCH))
