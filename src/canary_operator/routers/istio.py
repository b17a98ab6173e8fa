"""Istio: a VirtualService `<apex>` splitting traffic between the DestinationRules
`<apex>-primary` and `<apex>-canary` (Flagger's pkg/router/istio.go).

The builders are pure (the `http` rules themselves are `istio_routes`'). `IstioRouter`
reads, compares and writes: reconcile keeps the live routes and leaves alone what it does
not own; a route change is a minimal JSON Patch of the `http` rules, guarded by a `test` of
the resourceVersion it was computed from.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
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
from canary_operator.routers.istio_routes import (
    MESH_GATEWAY,
    build_http,
    canary_host,
    destination_host,
    http_rules,
    primary_host,
    read_affinity,
    read_routes,
    weighted_rule_index,
)
from canary_operator.routers.protocol import AffinityCookies, RouterError, Routes, validate_routes

GROUP = "networking.istio.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
VIRTUAL_SERVICES = "virtualservices"
DESTINATION_RULES = "destinationrules"
# Route fields that belong to the rollout, not to the spec: reconcile carries them over.
_RUNTIME_ROUTE_FIELDS = ("mirror", "mirrorPercentage")
# The VirtualService fields reconcile owns; any other spec field is someone else's.
_OWNED_SPEC_FIELDS = ("hosts", "gateways", "http")


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


def build_virtual_service(canary: Canary, routes: Routes | None = None,
                          affinity: AffinityCookies | None = None) -> JsonDict:
    """The apex VirtualService routing as `routes` says (default: all to the primary);
    its `http` rules are `istio_routes.build_http`'s."""
    apex, service = canary.spec.apex_name, canary.spec.service
    spec: JsonDict = {}
    if not service.delegation:  # a delegate VirtualService has neither hosts nor gateways
        hosts = list(service.hosts or [])
        if apex not in hosts and "*" not in hosts:
            hosts.append(apex)
        spec["hosts"] = hosts
        spec["gateways"] = list(service.gateways or [MESH_GATEWAY])
    spec["http"] = build_http(canary, routes, affinity)

    metadata: JsonDict = {"name": apex, "namespace": canary.metadata.namespace}
    apex_meta = service.apex
    if apex_meta and apex_meta.labels:
        metadata["labels"] = dict(apex_meta.labels)
    metadata["annotations"] = {**((apex_meta.annotations or {}) if apex_meta else {}),
                               **ROUTER_ANNOTATIONS}
    metadata["ownerReferences"] = [owner_reference(canary)]
    return {"apiVersion": API_VERSION, "kind": "VirtualService", "metadata": metadata,
            "spec": spec}


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

    The live routes stay as they are: the weights of the weighted rule, its mirror fields
    (as written) and the session-affinity cookies; the rules are rebuilt around them, so a
    change of strategy or of the route options shows at once. Hosts, gateways and http are
    ours and replaced; other spec fields are left alone; labels and annotations are added,
    never removed. The resourceVersion guard keeps a route change made since `live` was
    read from being undone.
    """
    routes = read_routes(live, canary)
    if routes is None or routes.primary + routes.canary != 100 or min(
            routes.primary, routes.canary) < 0 or max(routes.primary, routes.canary) > 100:
        routes = Routes(100, 0)
    desired = build_virtual_service(canary, routes, read_affinity(live, canary))
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
    """Copy the mirror fields of the live weighted rule, as they are, onto the desired
    one (whichever the strategy: the only rule, or the A/B match rule)."""
    live_http, want_http = http_rules(live), desired["spec"]["http"]
    live_index = weighted_rule_index(live_http, canary)
    want_index = weighted_rule_index(want_http, canary)
    if live_index is None or want_index is None:
        return
    for field in _RUNTIME_ROUTE_FIELDS:
        want_http[want_index].pop(field, None)
        if field in live_http[live_index]:
            want_http[want_index][field] = copy.deepcopy(live_http[live_index][field])


def build_routes_patch(canary: Canary, live: Mapping[str, Any], routes: Routes,
                       affinity: AffinityCookies | None = None) -> list[JsonDict]:
    """The JSON Patch bringing the live `http` rules to `routes` (and `affinity`); [] when
    they route so already.

    Only what differs is written: a changed field of a rule is replaced (added, removed),
    rules are appended or removed at the end; a `test` of the resourceVersion read first
    makes the patch fail rather than undo a change made since."""
    validate_routes(routes)
    name = f"VirtualService {canary.metadata.namespace}/{canary.spec.apex_name}"
    live_http = http_rules(live)
    index = weighted_rule_index(live_http, canary)
    if index is None:
        raise RouterError(f"{name} has no HTTP route to {canary_host(canary)}: "
                          "reconcile the router to repair it")
    weighted = live_http[index].get("route") or []
    if not any(destination_host(r) == primary_host(canary) for r in weighted):
        raise RouterError(f"{name} routes to {canary_host(canary)} but not to "
                          f"{primary_host(canary)}: reconcile the router to repair it")
    operations = _list_patch("/spec/http", live_http, build_http(canary, routes, affinity))
    version = (live.get("metadata") or {}).get("resourceVersion")
    if operations and version:
        operations.insert(0, {"op": "test", "path": "/metadata/resourceVersion",
                              "value": version})
    return operations


def _list_patch(path: str, live: Sequence[Any], want: Sequence[Any]) -> list[JsonDict]:
    operations: list[JsonDict] = []
    for index, (old, new) in enumerate(zip(live, want, strict=False)):
        if old == new:
            continue
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            operations += _object_patch(f"{path}/{index}", old, new)
        else:
            operations.append({"op": "replace", "path": f"{path}/{index}",
                               "value": copy.deepcopy(new)})
    operations += [{"op": "add", "path": f"{path}/-", "value": copy.deepcopy(new)}
                   for new in want[len(live):]]
    operations += [{"op": "remove", "path": f"{path}/{index}"}
                   for index in reversed(range(len(want), len(live)))]
    return operations


def _object_patch(path: str, live: Mapping[str, Any],
                  want: Mapping[str, Any]) -> list[JsonDict]:
    operations: list[JsonDict] = []
    for key in live:
        if key not in want:
            operations.append({"op": "remove", "path": f"{path}/{_pointer(key)}"})
    for key, value in want.items():
        if key not in live:
            operations.append({"op": "add", "path": f"{path}/{_pointer(key)}",
                               "value": copy.deepcopy(value)})
        elif live[key] != value:
            operations.append({"op": "replace", "path": f"{path}/{_pointer(key)}",
                               "value": copy.deepcopy(value)})
    return operations


def _pointer(key: str) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _with_resource_version(patch: JsonDict, live_meta: Mapping[str, Any]) -> JsonDict:
    if patch and live_meta.get("resourceVersion"):
        patch["metadata"] = {**patch.get("metadata", {}),
                             "resourceVersion": live_meta["resourceVersion"]}
    return patch


# -- the router ------------------------------------------------------------------------------


Lookup = Callable[[str, str], Mapping[str, Any] | None]


class IstioRouter:
    """The `Router` for Istio, on a `kubernetes.aio` ApiClient.

    With `cached`, VirtualServices are read from a watch cache (the operator's index)
    instead of the API: reading the routes costs no request. A route written by this
    router is remembered until the cache shows it, so a tick right after a write never
    decides on the routes from before it; a stale cache can at worst make a patch fail
    its resourceVersion test, and that tick is retried.
    """

    def __init__(self, api: ApiClient, cached: Lookup | None = None) -> None:
        self.api = api
        self.cached = cached
        # (namespace, name) -> (the resourceVersion our patch replaced, the result)
        self._written: dict[tuple[str, str], tuple[str, JsonDict]] = {}

    async def reconcile(self, canary: Canary) -> None:
        for rule in build_destination_rules(canary):
            await self._ensure(DESTINATION_RULES, rule,
                               partial(build_destination_rule_patch, desired=rule))
        await self._ensure(VIRTUAL_SERVICES, build_virtual_service(canary),
                           partial(build_virtual_service_patch, canary))

    async def sync(self, canary: Canary) -> bool:
        """Bring the VirtualService, as the watch cache has it, to the Canary's spec (hosts,
        gateways, the route options, its metadata), keeping the live routes: one patch when
        it drifted, no request when not (Flagger reconciles its router on every tick).
        False when there is no VirtualService yet: initialising creates it."""
        namespace, name = canary.metadata.namespace, canary.spec.apex_name
        live = await self._virtual_service(namespace, name)
        if live is None:
            return False
        patch = build_virtual_service_patch(canary, live)
        if patch:
            await self._patch_virtual_service(live, patch, MERGE_PATCH)
        return True

    async def get_routes(self, canary: Canary) -> Routes | None:
        live = await self._virtual_service(canary.metadata.namespace, canary.spec.apex_name)
        if live is None:
            return None
        routes = read_routes(live, canary)
        name = f"VirtualService {canary.metadata.namespace}/{canary.spec.apex_name}"
        if routes is None:
            raise RouterError(f"{name} has no HTTP route to {canary_host(canary)}: "
                              "reconcile the router to repair it")
        if routes.primary == 0 and routes.canary == 0:
            raise RouterError(f"{name} routes 0% to both {primary_host(canary)} and "
                              f"{canary_host(canary)}")
        return routes

    async def set_routes(self, canary: Canary, routes: Routes,
                         affinity: AffinityCookies | None = None) -> None:
        validate_routes(routes)
        namespace, name = canary.metadata.namespace, canary.spec.apex_name
        live = await self._virtual_service(namespace, name)
        if live is None:
            raise RouterError(f"VirtualService {namespace}/{name} not found: "
                              "reconcile the router before setting routes")
        operations = build_routes_patch(canary, live, routes, affinity)
        if operations:
            await self._patch_virtual_service(live, operations, JSON_PATCH)

    async def _patch_virtual_service(self, live: Mapping[str, Any], patch: Any,
                                     content_type: str) -> None:
        """Patch the VirtualService `live` is, and remember the result until the cache
        shows it (see the class doc)."""
        meta = live.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        written = await read_json(
            self._objects.patch_namespaced_custom_object_without_preload_content(
                GROUP, VERSION, namespace, VIRTUAL_SERVICES, name, patch,
                field_manager=FIELD_MANAGER, _content_type=content_type))
        if self.cached is not None:
            self._written[(namespace, name)] = (meta.get("resourceVersion", ""), written)

    async def _virtual_service(self, namespace: str, name: str) -> JsonDict | None:
        if self.cached is None:
            return await self._read(VIRTUAL_SERVICES, namespace, name)
        cached = self.cached(namespace, name)
        seen = dict(cached) if cached is not None else None
        written = self._written.get((namespace, name))
        if written is None:
            return seen
        replaced, result = written
        version = ((seen or {}).get("metadata") or {}).get("resourceVersion")
        if version == replaced:
            return result  # the cache has not caught up with our write yet
        del self._written[(namespace, name)]
        return seen

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
