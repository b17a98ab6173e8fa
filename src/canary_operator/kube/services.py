"""The three ClusterIP Services of a Canary (Flagger's kubernetes router):

- `<apex>`         selects the primary pods (`<label>: <value>-primary`): what clients call;
- `<apex>-primary` selects the primary pods;
- `<apex>-canary`  selects the target's own pods (`<label>: <value>`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from kubernetes.aio.client import ApiClient, CoreV1Api, V1Service
from kubernetes.aio.client.exceptions import ApiException

from canary_operator.api import Canary
from canary_operator.api.canary import ObjectMetadata
from canary_operator.kube.client import (
    FIELD_MANAGER,
    MERGE_PATCH,
    ROUTER_ANNOTATIONS,
    JsonDict,
    is_owned_by,
    merge_patch,
    owner_reference,
    read_json,
    read_json_or_none,
)

DEFAULT_PORT_NAME = "http"
# The port fields we set; the API server adds nothing else to a ClusterIP port.
_PORT_FIELDS = ("name", "protocol", "port", "targetPort", "appProtocol")


def build_services(canary: Canary, label: tuple[str, str]) -> list[JsonDict]:
    """The apex, primary and canary Services, in that order."""
    key, value = label
    apex, service = canary.spec.apex_name, canary.spec.service
    primary_selector = {key: f"{value}-primary"}
    return [
        build_service(canary, apex, key, primary_selector, service.apex),
        build_service(canary, f"{apex}-primary", key, primary_selector, service.primary),
        build_service(canary, f"{apex}-canary", key, {key: value}, service.canary),
    ]


def build_service(canary: Canary, name: str, label_key: str, selector: Mapping[str, str],
                  metadata: ObjectMetadata | None) -> JsonDict:
    """One Service: labelled `<label_key>: <name>` over the Canary's metadata for it."""
    service = canary.spec.service
    port: JsonDict = {
        "name": service.port_name or DEFAULT_PORT_NAME,
        "protocol": "TCP",
        "port": service.port,
        "targetPort": service.target_port if service.target_port is not None else service.port,
    }
    if service.app_protocol:
        port["appProtocol"] = service.app_protocol
    spec: JsonDict = {"type": "ClusterIP", "selector": dict(selector), "ports": [port]}
    if service.headless:
        spec["clusterIP"] = "None"
    if service.traffic_distribution:
        spec["trafficDistribution"] = service.traffic_distribution
    labels = dict(metadata.labels or {}) if metadata else {}
    labels[label_key] = name
    annotations = dict(metadata.annotations or {}) if metadata else {}
    annotations.update(ROUTER_ANNOTATIONS)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": canary.metadata.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner_reference(canary)],
        },
        "spec": spec,
    }


def build_service_patch(canary: Canary, live: Mapping[str, Any],
                        desired: Mapping[str, Any]) -> JsonDict:
    """The merge patch bringing an existing Service to `desired`; {} if it is there.

    Ports and selector are always ours; labels and annotations only on a Service this
    Canary owns (keys in spec.service.unmanagedMetadata keep their live values). On any
    other Service we only add the two annotations that keep Flux off it.
    """
    live_meta, live_spec = live.get("metadata", {}), live.get("spec", {})
    want_meta, want_spec = desired["metadata"], desired["spec"]
    live_labels = live_meta.get("labels") or {}
    live_annotations = live_meta.get("annotations") or {}
    if is_owned_by(live, canary):
        unmanaged = canary.spec.service.unmanaged_metadata
        want_labels = _keep_unmanaged(want_meta["labels"], live_labels,
                                      unmanaged.labels if unmanaged else None)
        want_annotations = _keep_unmanaged(want_meta["annotations"], live_annotations,
                                           unmanaged.annotations if unmanaged else None)
    else:
        want_labels = dict(live_labels)
        want_annotations = {**live_annotations, **ROUTER_ANNOTATIONS}

    live_view = {
        "metadata": {"labels": live_labels, "annotations": live_annotations},
        "spec": {
            "selector": live_spec.get("selector") or {},
            "ports": [{f: p[f] for f in _PORT_FIELDS if f in p}
                      for p in live_spec.get("ports") or []],
        },
    }
    want_view = copy.deepcopy(live_view)
    want_view["metadata"] = {"labels": want_labels, "annotations": want_annotations}
    want_view["spec"]["selector"] = dict(want_spec["selector"])
    want_view["spec"]["ports"] = copy.deepcopy(want_spec["ports"])
    if "trafficDistribution" in want_spec:
        live_view["spec"]["trafficDistribution"] = live_spec.get("trafficDistribution")
        want_view["spec"]["trafficDistribution"] = want_spec["trafficDistribution"]

    patch = merge_patch(live_view, want_view)
    if patch and live_meta.get("resourceVersion"):
        patch["metadata"] = {**patch.get("metadata", {}),
                             "resourceVersion": live_meta["resourceVersion"]}
    return patch


def _keep_unmanaged(want: Mapping[str, str], live: Mapping[str, str],
                    unmanaged: Sequence[str] | None) -> dict[str, str]:
    kept = dict(want)
    for key in unmanaged or ():
        if key in live:
            kept[key] = live[key]
    return kept


async def ensure_services(api: ApiClient, canary: Canary,
                          label: tuple[str, str]) -> list[JsonDict]:
    """Create or update the apex, primary and canary Services; the live Services."""
    core = CoreV1Api(api)
    namespace = canary.metadata.namespace
    result = []
    for desired in build_services(canary, label):
        name = desired["metadata"]["name"]
        live = await read_json_or_none(
            core.read_namespaced_service_without_preload_content(name, namespace))
        if live is None:
            try:
                live = await read_json(core.create_namespaced_service_without_preload_content(
                    namespace, V1Service.model_validate(desired),
                    field_manager=FIELD_MANAGER))
            except ApiException as error:
                if error.status != 409:
                    raise
                live = await read_json(
                    core.read_namespaced_service_without_preload_content(name, namespace))
        patch = build_service_patch(canary, live, desired)
        if patch:
            live = await read_json(core.patch_namespaced_service_without_preload_content(
                name, namespace, patch, field_manager=FIELD_MANAGER,
                _content_type=MERGE_PATCH))
        result.append(live)
    return result


def build_apex_revert_patch(canary: Canary, live: Mapping[str, Any] | None,
                            label: tuple[str, str]) -> JsonDict:
    """revertOnDeletion: point a user's own apex Service back at the target's pods.

    A Service this Canary created is left alone: it goes with the Canary (owner reference).
    """
    if live is None or is_owned_by(live, canary):
        return {}
    key, value = label
    if live.get("spec", {}).get("selector") == {key: value}:
        return {}
    # A merge patch merges maps: null out the keys that must go, then set ours.
    selector: dict[str, str | None] = dict.fromkeys(live.get("spec", {}).get("selector") or {})
    selector[key] = value
    return {"spec": {"selector": selector}}


async def revert_apex_service(api: ApiClient, canary: Canary, label: tuple[str, str]) -> bool:
    """Apply `build_apex_revert_patch`; True if the Service had to be changed."""
    core = CoreV1Api(api)
    namespace, name = canary.metadata.namespace, canary.spec.apex_name
    live = await read_json_or_none(
        core.read_namespaced_service_without_preload_content(name, namespace))
    patch = build_apex_revert_patch(canary, live, label)
    if not patch:
        return False
    await read_json(core.patch_namespaced_service_without_preload_content(
        name, namespace, patch, field_manager=FIELD_MANAGER, _content_type=MERGE_PATCH))
    return True
