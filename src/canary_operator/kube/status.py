"""A Canary's status in the API: read it, and write the decided one, fenced.

A write is the JSON merge patch (RFC 7386) from the status as read to the status decided,
so a field the decision clears is sent as null and removed, and a dict key that leaves
leaves. The patch carries the `resourceVersion` the status was read at: when anyone wrote
the Canary since (another replica, a user editing `failedChecks`, a command annotation),
the API server refuses it with 409 and the caller reads again and decides again, as
Flagger's `UpdateStatus` does under `retry.RetryOnConflict`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes.aio import client as aio_client
from kubernetes.aio.client.exceptions import ApiException

from canary_operator.api import GROUP, VERSION
from canary_operator.kube.client import MERGE_PATCH, JsonDict, merge_patch, read_json

PLURAL = "canaries"


class StatusConflict(Exception):
    """The Canary changed after it was read (HTTP 409): read it again, decide again."""


def status_patch(live: Mapping[str, Any] | None, decided: Mapping[str, Any]) -> JsonDict:
    """The merge patch that turns the status as read into the decided one; {} when they
    are the same (nothing to write)."""
    return merge_patch(live or {}, decided)


async def write_status(api: aio_client.ApiClient, namespace: str, name: str,
                       resource_version: str | None, patch: Mapping[str, Any]) -> JsonDict:
    """Apply `patch` to the Canary's status if it is still at `resource_version` (None:
    unfenced, for a Canary read without one); the Canary as written is returned. Raises
    StatusConflict when it is not."""
    body: JsonDict = {"status": dict(patch)}
    if resource_version:
        body["metadata"] = {"resourceVersion": resource_version}
    objects = aio_client.CustomObjectsApi(api)
    try:
        return await read_json(
            objects.patch_namespaced_custom_object_status_without_preload_content(
                GROUP, VERSION, namespace, PLURAL, name, body,
                _content_type=MERGE_PATCH))
    except ApiException as error:
        if error.status == 409:
            raise StatusConflict(f"Canary {namespace}/{name} changed since "
                                 f"resourceVersion {resource_version}") from error
        raise


async def read_canary(api: aio_client.ApiClient, namespace: str, name: str) -> JsonDict | None:
    """The Canary as the API has it now (after a conflict); None when it is gone."""
    objects = aio_client.CustomObjectsApi(api)
    try:
        return await read_json(objects.get_namespaced_custom_object_without_preload_content(
            GROUP, VERSION, namespace, PLURAL, name))
    except ApiException as error:
        if error.status == 404:
            return None
        raise
