"""The few API calls `kubectl canary` makes: read Canaries, their events and their target's
revision, patch annotations, and watch one Canary until a condition holds."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, cast

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from canary_operator.api.canary import GROUP, VERSION
from canary_operator.cli.canary_view import CanaryEvent, event_from_api
from canary_operator.controller.observing import revision_hash
from canary_operator.kube.configs import TrackedConfigs
from canary_operator.kube.workloads import pod_template_hash

PLURAL = "canaries"
MERGE_PATCH = "application/merge-patch+json"
JsonDict = dict[str, Any]


class CanaryNotFound(LookupError):
    """The Canary named on the command line does not exist."""


def _json(response: object) -> Any:
    """The JSON body of a call made with `_preload_content=False` (the API's camelCase,
    not the client's models)."""
    return json.loads(cast(Any, response).data)


def _custom(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


def get_canary(api: client.ApiClient, namespace: str, name: str) -> JsonDict:
    try:
        found = cast(JsonDict, _custom(api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name))
    except ApiException as error:
        if error.status == 404:
            raise CanaryNotFound(f"Canary {namespace}/{name} not found") from None
        raise
    return found


def list_canaries(api: client.ApiClient, namespace: str | None) -> list[JsonDict]:
    """The Canaries of `namespace` (None: every namespace), by namespace and name."""
    if namespace is None:
        listed = cast(JsonDict, _custom(api).list_cluster_custom_object(GROUP, VERSION, PLURAL))
    else:
        listed = cast(JsonDict, _custom(api).list_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL))
    items: list[JsonDict] = list(listed.get("items") or [])
    return sorted(items, key=lambda c: (c["metadata"].get("namespace", ""),
                                        c["metadata"]["name"]))


def canary_events(api: client.ApiClient, namespace: str, name: str) -> list[CanaryEvent]:
    """The core/v1 Events about the Canary."""
    response = client.CoreV1Api(api).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name},involvedObject.kind=Canary",
        _preload_content=False)
    payload = _json(response)
    return [event_from_api(item) for item in payload.get("items") or []]


def target_revision(api: client.ApiClient, canary: Mapping[str, Any]) -> str | None:
    """The revision the operator would see for the Canary's target now: its pod template's
    hash with the tracked configs' checksums of the status; None without a target."""
    metadata, spec = canary.get("metadata") or {}, canary.get("spec") or {}
    name = (spec.get("targetRef") or {}).get("name")
    if not name:
        return None
    response = client.AppsV1Api(api).read_namespaced_deployment(
        name, metadata.get("namespace", "default"), _preload_content=False)
    target = _json(response)
    checksums = (canary.get("status") or {}).get("trackedConfigs") or {}
    return revision_hash(pod_template_hash(target), TrackedConfigs(checksums=dict(checksums)))


def patch_annotations(api: client.ApiClient, namespace: str, name: str,
                      annotations: Mapping[str, str | None]) -> JsonDict:
    """A JSON merge patch of the Canary's annotations (None removes one)."""
    try:
        patched = cast(JsonDict, _custom(api).patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name,
            {"metadata": {"annotations": dict(annotations)}}, _content_type=MERGE_PATCH))
    except ApiException as error:
        if error.status == 404:
            raise CanaryNotFound(f"Canary {namespace}/{name} not found") from None
        raise
    return patched


def watch_canary(api: client.ApiClient, namespace: str, name: str, timeout: float,
                 ) -> Iterator[JsonDict]:
    """The Canary now, then each new version of it, until `timeout` seconds have passed
    (the watch is re-opened when the server closes it)."""
    deadline = time.monotonic() + timeout
    current = get_canary(api, namespace, name)
    yield current
    version = current["metadata"].get("resourceVersion")
    while (left := deadline - time.monotonic()) > 0:
        stream = watch.Watch()  # type: ignore[no-untyped-call]
        try:
            for event in stream.stream(  # type: ignore[no-untyped-call]
                    _custom(api).list_namespaced_custom_object, GROUP, VERSION, namespace,
                    PLURAL, field_selector=f"metadata.name={name}",
                    resource_version=version, timeout_seconds=max(1, int(left))):
                body = event.get("object") or {}
                if event.get("type") == "DELETED":
                    raise CanaryNotFound(f"Canary {namespace}/{name} was deleted")
                if event.get("type") in ("ADDED", "MODIFIED") and isinstance(body, dict):
                    version = body["metadata"].get("resourceVersion", version)
                    yield body
                if time.monotonic() >= deadline:
                    return
        except ApiException as error:
            if error.status != 410:  # a stale resourceVersion: read again and go on
                raise
            current = get_canary(api, namespace, name)
            version = current["metadata"].get("resourceVersion")
            yield current
        finally:
            stream.stop()  # type: ignore[no-untyped-call]


def wait_for(api: client.ApiClient, namespace: str, name: str,
             condition: Callable[[JsonDict], bool], timeout: float) -> JsonDict | None:
    """The first version of the Canary for which `condition` holds; None at the timeout."""
    for canary in watch_canary(api, namespace, name, timeout):
        if condition(canary):
            return canary
    return None
