"""Istio: a VirtualService `<apex>` splitting traffic between the DestinationRules
`<apex>-primary` and `<apex>-canary` (Flagger's pkg/router/istio.go).

The builders are pure. `IstioRouter` reads, compares and writes: reconcile keeps the live
weights and leaves alone what it does not own; weight changes are a JSON Patch of the one
route list, guarded by a `test` of its old value.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from kubernetes.aio.client import ApiClient, CustomObjectsApi
from kubernetes.aio.client.exceptions import ApiException

from canary_operator.api import Canary
from canary_operator.kube.client import (
    FIELD_MANAGER,
    JSON_PATCH,
    MERGE_PATCH,
    ROUTER_ANNOTATIONS,
    JsonDict,
    merge_patch,
    owner_reference,
    read_json,
    read_json_or_none,
)
from canary_operator.routers.protocol import RouterError, validate_weights

GROUP = "networking.istio.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
VIRTUAL_SERVICES = "virtualservices"
DESTINATION_RULES = "destinationrules"
MESH_GATEWAY = "mesh"
# Route fields that belong to the rollout, not to the spec: reconcile carries them over.
_RUNTIME_ROUTE_FIELDS = ("mirror", "mirrorPercentage")
# The VirtualService fields reconcile owns; any other spec field is someone else's.
_OWNED_SPEC_FIELDS = ("hosts", "gateways", "http")


def primary_host(canary: Canary) -> str:
    return f"{canary.spec.apex_name}-primary"


def canary_host(canary: Canary) -> str:
    return f"{canary.spec.apex_name}-canary"


# -- builders ------------------------------------------------------------------------------


def build_destination_rules(canary: Canary) -> list[JsonDict]:
    """`<apex>-canary` and `<apex>-primary`, each for the host of the same name."""
    return [_destination_rule(canary, canary_host(canary)),
            _destination_rule(canary, primary_host(canary))]


def _destination_rule(canary: Canary, host: str) -> JsonDict:
    spec: JsonDict = {"host": host}
    if canary.spec.service.traffic_policy:
        spec["trafficPolicy"] = copy.deepcopy(canary.spec.service.traffic_policy)
    return {
        "apiVersion": API_VERSION,
        "kind": "DestinationRule",
        "metadata": {
            "name": host,
            "namespace": canary.metadata.namespace,
            "annotations": dict(ROUTER_ANNOTATIONS),
            "ownerReferences": [owner_reference(canary)],
        },
        "spec": spec,
    }


def build_virtual_service(canary: Canary, primary_weight: int = 100,
                          canary_weight: int = 0) -> JsonDict:
    """The apex VirtualService routing `primary_weight`/`canary_weight`."""
    validate_weights(primary_weight, canary_weight)
    apex, service = canary.spec.apex_name, canary.spec.service
    spec: JsonDict = {}
    if not service.delegation:  # a delegate VirtualService has neither hosts nor gateways
        hosts = list(service.hosts or [])
        if apex not in hosts and "*" not in hosts:
            hosts.append(apex)
        spec["hosts"] = hosts
        spec["gateways"] = list(service.gateways or [MESH_GATEWAY])

    http: JsonDict = {}
    for field, value in (("match", service.match), ("rewrite", service.rewrite),
                         ("timeout", service.timeout), ("retries", service.retries),
                         ("corsPolicy", service.cors_policy), ("headers", service.headers)):
        if value:
            http[field] = copy.deepcopy(value)
    http["route"] = [
        {"destination": _destination(canary, primary_host(canary)), "weight": primary_weight},
        {"destination": _destination(canary, canary_host(canary)), "weight": canary_weight},
    ]
    spec["http"] = [http]

    metadata: JsonDict = {"name": apex, "namespace": canary.metadata.namespace}
    apex_meta = service.apex
    if apex_meta and apex_meta.labels:
        metadata["labels"] = dict(apex_meta.labels)
    metadata["annotations"] = {**((apex_meta.annotations or {}) if apex_meta else {}),
                               **ROUTER_ANNOTATIONS}
    metadata["ownerReferences"] = [owner_reference(canary)]
    return {"apiVersion": API_VERSION, "kind": "VirtualService", "metadata": metadata,
            "spec": spec}


def _destination(canary: Canary, host: str) -> JsonDict:
    service = canary.spec.service
    destination: JsonDict = {"host": host}
    # Through a gateway (or as a delegate) the discovered ports need the port named.
    gateways = service.gateways or [MESH_GATEWAY]
    if service.port_discovery and (gateways[0] != MESH_GATEWAY or service.delegation):
        destination["port"] = {"number": service.port}
    return destination


def route_weights(virtual_service: Mapping[str, Any],
                  canary: Canary) -> tuple[int, int] | None:
    """(primary, canary) weights of the first HTTP route to the canary host; None when
    no route has it."""
    for http in virtual_service.get("spec", {}).get("http") or []:
        route = http.get("route") or []
        hosts = {_host(r): int(r.get("weight") or 0) for r in route}
        if canary_host(canary) in hosts:
            return hosts.get(primary_host(canary), 0), hosts[canary_host(canary)]
    return None


def _host(route_destination: Mapping[str, Any]) -> str | None:
    host = (route_destination.get("destination") or {}).get("host")
    return str(host) if host is not None else None


def build_destination_rule_patch(live: Mapping[str, Any],
                                 desired: Mapping[str, Any]) -> JsonDict:
    """The merge patch bringing a DestinationRule's host and trafficPolicy to `desired`
    and adding our annotations; {} if nothing differs."""
    live_meta, live_spec = live.get("metadata", {}), live.get("spec", {})
    live_annotations = live_meta.get("annotations") or {}
    live_view = {
        "metadata": {"annotations": live_annotations},
        "spec": {k: live_spec[k] for k in ("host", "trafficPolicy") if k in live_spec},
    }
    want_view = {
        "metadata": {"annotations": {**live_annotations, **desired["metadata"]["annotations"]}},
        "spec": copy.deepcopy(desired["spec"]),
    }
    return _with_resource_version(merge_patch(live_view, want_view), live_meta)


def build_virtual_service_patch(canary: Canary, live: Mapping[str, Any]) -> JsonDict:
    """The merge patch bringing an existing VirtualService to the Canary's spec; {} if
    nothing differs.

    The live weights (and mirroring) stay as they are. Hosts, gateways and http are ours
    and replaced; other spec fields are left alone; labels and annotations are added,
    never removed. The resourceVersion guard keeps a weight change made since `live` was
    read from being undone.
    """
    weights = route_weights(live, canary)
    if weights is None or sum(weights) != 100 or min(weights) < 0:
        weights = (100, 0)
    desired = build_virtual_service(canary, *weights)
    _carry_runtime_route_fields(live, desired, canary)

    live_meta, live_spec = live.get("metadata", {}), live.get("spec", {})
    live_labels = live_meta.get("labels") or {}
    live_annotations = live_meta.get("annotations") or {}
    want_meta = desired["metadata"]
    live_view = {
        "metadata": {"labels": live_labels, "annotations": live_annotations},
        "spec": {k: live_spec[k] for k in _OWNED_SPEC_FIELDS if k in live_spec},
    }
    want_view = {
        "metadata": {
            "labels": {**live_labels, **want_meta.get("labels", {})},
            "annotations": {**live_annotations, **want_meta["annotations"]},
        },
        "spec": {k: desired["spec"][k] for k in _OWNED_SPEC_FIELDS if k in desired["spec"]},
    }
    return _with_resource_version(merge_patch(live_view, want_view), live_meta)


def _carry_runtime_route_fields(live: Mapping[str, Any], desired: JsonDict,
                                canary: Canary) -> None:
    live_http = next((h for h in live.get("spec", {}).get("http") or []
                      if any(_host(r) == canary_host(canary) for r in h.get("route") or [])),
                     None)
    if live_http is None:
        return
    for http in desired["spec"]["http"]:
        if any(_host(r) == canary_host(canary) for r in http["route"]):
            for field in _RUNTIME_ROUTE_FIELDS:
                if field in live_http:
                    http[field] = copy.deepcopy(live_http[field])


def build_weight_patch(canary: Canary, live: Mapping[str, Any], primary: int,
                       canary_weight: int) -> list[JsonDict]:
    """The JSON Patch setting the weights of every HTTP route to the canary host; [] if
    they are set already. Each changed route list is replaced whole after a `test` that
    it is still the list we read."""
    primary, canary_weight = validate_weights(primary, canary_weight)
    name = f"VirtualService {canary.metadata.namespace}/{canary.spec.apex_name}"
    weights = {primary_host(canary): primary, canary_host(canary): canary_weight}
    operations: list[JsonDict] = []
    found = False
    for index, http in enumerate(live.get("spec", {}).get("http") or []):
        route = http.get("route") or []
        hosts = [_host(r) for r in route]
        if canary_host(canary) not in hosts:
            continue
        found = True
        if primary_host(canary) not in hosts:
            raise RouterError(f"{name} routes to {canary_host(canary)} but not to "
                              f"{primary_host(canary)}: reconcile the router to repair it")
        new_route = [
            {**r, "weight": weights[host]} if host in weights else copy.deepcopy(r)
            for r, host in zip(route, hosts, strict=True)
        ]
        if new_route != route:
            path = f"/spec/http/{index}/route"
            operations += [{"op": "test", "path": path, "value": route},
                           {"op": "replace", "path": path, "value": new_route}]
    if not found:
        raise RouterError(f"{name} has no HTTP route to {canary_host(canary)}: "
                          "reconcile the router to repair it")
    return operations


def _with_resource_version(patch: JsonDict, live_meta: Mapping[str, Any]) -> JsonDict:
    if patch and live_meta.get("resourceVersion"):
        patch["metadata"] = {**patch.get("metadata", {}),
                             "resourceVersion": live_meta["resourceVersion"]}
    return patch


# -- the router ------------------------------------------------------------------------------


class IstioRouter:
    """The `Router` for Istio, on a `kubernetes.aio` ApiClient."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    async def reconcile(self, canary: Canary) -> None:
        for rule in build_destination_rules(canary):
            await self._ensure(DESTINATION_RULES, rule,
                               partial(build_destination_rule_patch, desired=rule))
        await self._ensure(VIRTUAL_SERVICES, build_virtual_service(canary),
                           partial(build_virtual_service_patch, canary))

    async def get_weights(self, canary: Canary) -> tuple[int, int] | None:
        live = await self._read(VIRTUAL_SERVICES, canary.metadata.namespace,
                                canary.spec.apex_name)
        if live is None:
            return None
        weights = route_weights(live, canary)
        name = f"VirtualService {canary.metadata.namespace}/{canary.spec.apex_name}"
        if weights is None:
            raise RouterError(f"{name} has no HTTP route to {canary_host(canary)}: "
                              "reconcile the router to repair it")
        if weights == (0, 0):
            raise RouterError(f"{name} routes 0% to both {primary_host(canary)} and "
                              f"{canary_host(canary)}")
        return weights

    async def set_weights(self, canary: Canary, primary: int, canary_weight: int) -> None:
        validate_weights(primary, canary_weight)
        namespace, name = canary.metadata.namespace, canary.spec.apex_name
        live = await self._read(VIRTUAL_SERVICES, namespace, name)
        if live is None:
            raise RouterError(f"VirtualService {namespace}/{name} not found: "
                              "reconcile the router before setting weights")
        operations = build_weight_patch(canary, live, primary, canary_weight)
        if operations:
            await read_json(self._objects.patch_namespaced_custom_object_without_preload_content(
                GROUP, VERSION, namespace, VIRTUAL_SERVICES, name, operations,
                field_manager=FIELD_MANAGER, _content_type=JSON_PATCH))

    # -- plumbing --------------------------------------------------------------------------

    @property
    def _objects(self) -> CustomObjectsApi:
        return CustomObjectsApi(self.api)

    async def _read(self, plural: str, namespace: str, name: str) -> JsonDict | None:
        return await read_json_or_none(
            self._objects.get_namespaced_custom_object_without_preload_content(
                GROUP, VERSION, namespace, plural, name))

    async def _ensure(self, plural: str, desired: JsonDict,
                      patch_of: Callable[[JsonDict], JsonDict]) -> None:
        """Create `desired`, or patch the live object by `patch_of(live)` if non-empty."""
        namespace, name = desired["metadata"]["namespace"], desired["metadata"]["name"]
        live = await self._read(plural, namespace, name)
        if live is None:
            try:
                await read_json(
                    self._objects.create_namespaced_custom_object_without_preload_content(
                        GROUP, VERSION, namespace, plural, desired,
                        field_manager=FIELD_MANAGER))
                return
            except ApiException as error:
                if error.status != 409:
                    raise
            live = await self._read(plural, namespace, name)
            if live is None:
                raise RouterError(f"{desired['kind']} {namespace}/{name} was deleted while "
                                  "being created; the next reconcile creates it")
        patch = patch_of(live)
        if patch:
            await read_json(self._objects.patch_namespaced_custom_object_without_preload_content(
                GROUP, VERSION, namespace, plural, name, patch,
                field_manager=FIELD_MANAGER, _content_type=MERGE_PATCH))
