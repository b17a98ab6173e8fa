"""A fake API server behind a real `kubernetes.aio` ApiClient, for unit tests of the shell.

Only the client's transport (`ApiClient.rest_client`) is replaced, so every adapter runs
its real request-building and response-reading code. The fake keeps objects by their
URL, bumps a resourceVersion on each write, applies merge and JSON patches, keeps the
status subresource apart (a write to `/status` changes only the status, a write to the
object never does), and refuses a write whose `metadata.resourceVersion` is not the
object's (409), as kube-apiserver does. Tests can make the next request to a URL fail.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import jsonpatch  # type: ignore[import-untyped]
from kubernetes.aio.client import ApiClient, Configuration
from multidict import CIMultiDict

JsonDict = dict[str, Any]
_STATUS = re.compile(r"^(?P<object>.+)/status$")


@dataclass
class Raw:
    """What `kube.client.read_json` and the typed calls read of an aiohttp response."""

    status: int
    reason: str
    data: bytes
    headers: CIMultiDict[str] = field(
        default_factory=lambda: CIMultiDict({"content-type": "application/json"}))

    async def read(self) -> bytes:
        return self.data

    def release(self) -> None:
        pass


@dataclass
class Response:
    """The client's RESTResponse: `.response` is the raw response."""

    response: Raw

    @property
    def status(self) -> int:
        return self.response.status

    @property
    def reason(self) -> str:
        return self.response.reason

    @property
    def data(self) -> bytes:
        return self.response.data

    @property
    def headers(self) -> CIMultiDict[str]:
        return self.response.headers

    async def read(self) -> bytes:
        return self.response.data

    def getheaders(self) -> CIMultiDict[str]:
        return self.response.headers

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.response.headers.get(name, default)


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query
    body: Any
    status: int  # what the fake answered


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """`patch` applied to `target` as RFC 7386 says (the API server's merge patch)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


class FakeApi:
    def __init__(self) -> None:
        self.objects: dict[str, JsonDict] = {}
        self.requests: list[Request] = []
        self.version = 100
        # path (with /status for the subresource) -> answers for the next requests to it
        self._failures: dict[tuple[str, str], list[int]] = {}
        # called before each write is applied, to change the world in between
        self.before_write: Callable[[str, str], None] | None = None

    # -- the test's side ------------------------------------------------------------------

    def put(self, path: str, obj: JsonDict) -> JsonDict:
        """Store `obj` at `path` as if it had been written (a new resourceVersion)."""
        stored = copy.deepcopy(obj)
        self.version += 1
        stored.setdefault("metadata", {})["resourceVersion"] = str(self.version)
        self.objects[path] = stored
        return copy.deepcopy(stored)

    def get(self, path: str) -> JsonDict:
        return copy.deepcopy(self.objects[path])

    def fail_next(self, method: str, path: str, *statuses: int) -> None:
        self._failures.setdefault((method, path), []).extend(statuses)

    def writes(self, path: str) -> list[Request]:
        """The writes to `path` (or its status) that were applied."""
        return [r for r in self.requests if r.method != "GET" and r.status < 300
                and r.path in (path, f"{path}/status")]

    def client(self) -> ApiClient:
        api = ApiClient(configuration=Configuration(host="http://fake"))
        api.rest_client = self  # type: ignore[assignment]
        return api

    # -- the client's side: RESTClientObject.request ----------------------------------------

    async def request(self, method: str, url: str, headers: Any = None, body: Any = None,
                      post_params: Any = None, _request_timeout: Any = None) -> Response:
        path = urlsplit(url).path
        status, answer = self._handle(method, path, dict(headers or {}), body)
        self.requests.append(Request(method, path, copy.deepcopy(body), status))
        return Response(Raw(status, "OK" if status < 300 else "Error",
                            json.dumps(answer).encode()))

    async def close(self) -> None:
        pass

    def _handle(self, method: str, path: str, headers: dict[str, str],
                body: Any) -> tuple[int, JsonDict]:
        failures = self._failures.get((method, path))
        if failures:
            code = failures.pop(0)
            return code, {"kind": "Status", "code": code, "message": "injected failure"}
        sub = _STATUS.match(path)
        key = sub.group("object") if sub else path
        if method == "GET":
            if key not in self.objects:
                return 404, {"kind": "Status", "code": 404, "message": f"{key} not found"}
            return 200, copy.deepcopy(self.objects[key])
        if self.before_write is not None:
            self.before_write(method, path)
        if method == "POST":
            name = body["metadata"]["name"]
            return 201, self.put(f"{path}/{name}", body)
        if method == "PATCH":
            return self._patch(key, sub is not None, headers.get("Content-Type", ""), body)
        return 405, {"kind": "Status", "code": 405, "message": f"{method} not faked"}

    def _patch(self, key: str, status_only: bool, kind: str, body: Any) -> tuple[int, JsonDict]:
        if key not in self.objects:
            return 404, {"kind": "Status", "code": 404, "message": f"{key} not found"}
        live = self.objects[key]
        if "json-patch" in kind:
            patched = jsonpatch.apply_patch(live, body)
        else:
            wanted = ((body.get("metadata") or {}).get("resourceVersion")
                      if isinstance(body, dict) else None)
            if wanted is not None and wanted != live["metadata"]["resourceVersion"]:
                return 409, {"kind": "Status", "code": 409, "reason": "Conflict",
                             "message": "the object has been modified"}
            patched = apply_merge_patch(live, body)
        if status_only:  # the status subresource: nothing but the status changes
            patched = {**copy.deepcopy(live), "status": patched.get("status")}
            if patched["status"] is None:
                del patched["status"]
        elif "status" in live:
            patched["status"] = copy.deepcopy(live["status"])
        return 200, self.put(key, patched)
