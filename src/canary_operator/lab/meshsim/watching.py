"""List, then watch, one kind of object in one namespace (or all), into the inventory.

Raw JSON over the sync `kubernetes` client (`_preload_content=False`): no models to build,
which keeps thousands of Deployments cheap. A watch that expires (410 Gone) starts over
with a fresh list; any other failure is logged once and retried every second.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
from collections.abc import Callable
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3 import HTTPResponse
from urllib3.exceptions import HTTPError

from canary_operator.lab.meshsim.inventory import Inventory, Kind

log = logging.getLogger(__name__)

ISTIO_GROUP = "networking.istio.io"
ISTIO_VERSION = "v1beta1"
VIRTUAL_SERVICES = "virtualservices"

WATCH_SECONDS = 60  # the API server ends each watch after this; we watch again
REQUEST_TIMEOUT = (10.0, WATCH_SECONDS + 30.0)  # connect, read
RETRY_SECONDS = 1.0
GONE = 410
TOO_MANY_REQUESTS = 429


def list_call(api: client.ApiClient, kind: Kind, namespace: str | None) -> Callable[..., Any]:
    """The list (and, with watch=True, watch) function of `kind` in `namespace` or all."""
    if kind is Kind.VIRTUAL_SERVICE:
        custom = client.CustomObjectsApi(api)
        if namespace is None:
            return functools.partial(custom.list_cluster_custom_object,
                                     ISTIO_GROUP, ISTIO_VERSION, VIRTUAL_SERVICES)
        return functools.partial(custom.list_namespaced_custom_object,
                                 ISTIO_GROUP, ISTIO_VERSION, namespace, VIRTUAL_SERVICES)
    if kind is Kind.SERVICE:
        core = client.CoreV1Api(api)
        if namespace is None:
            return core.list_service_for_all_namespaces
        return functools.partial(core.list_namespaced_service, namespace)
    apps = client.AppsV1Api(api)
    if namespace is None:
        return apps.list_deployment_for_all_namespaces
    return functools.partial(apps.list_namespaced_deployment, namespace)


class _Expired(Exception):
    """The watch's resourceVersion is too old: list again."""


class Watcher:
    """One thread keeping the inventory's `kind` objects of one scope up to date."""

    def __init__(self, api: client.ApiClient, kind: Kind, namespace: str | None,
                 inventory: Inventory, stopping: threading.Event) -> None:
        self.kind = kind
        self.namespace = namespace
        self.synced = threading.Event()  # set after the first successful list
        self.last_error: str | None = None
        self._call = list_call(api, kind, namespace)
        self._inventory = inventory
        self._stopping = stopping
        self._response: HTTPResponse | None = None
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"meshsim-watch-{kind.value}-{namespace or '*'}")

    @property
    def scope(self) -> str:
        where = f"namespace {self.namespace}" if self.namespace else "all namespaces"
        return f"{self.kind.value}s in {where}"

    def start(self) -> None:
        self._thread.start()

    def interrupt(self) -> None:
        """Unblock a watch waiting for the next event (call after setting `stopping`)."""
        response = self._response
        if response is not None:
            # Already closed (ValueError, RuntimeError): the thread is on its way out anyway.
            with contextlib.suppress(ValueError, RuntimeError, OSError):
                response.shutdown()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        resource_version: str | None = None
        while not self._stopping.is_set():
            try:
                if resource_version is None:
                    resource_version = self._list()
                    self.synced.set()
                    self.last_error = None
                resource_version = self._watch(resource_version)
            except _Expired:
                resource_version = None
            except (ApiException, HTTPError, OSError, ValueError, KeyError) as error:
                if self._stopping.is_set():
                    return
                if isinstance(error, ApiException) and error.status == GONE:
                    resource_version = None
                    continue
                self._report(error)
                self._stopping.wait(RETRY_SECONDS)

    def _report(self, error: Exception) -> None:
        if isinstance(error, ApiException) and error.status == 404 and (
            self.kind is Kind.VIRTUAL_SERVICE
        ):
            message = (f"the API server does not serve {ISTIO_GROUP}/{ISTIO_VERSION} "
                       f"{VIRTUAL_SERVICES}: install Istio's CRDs (`canary-operator lab up` does)")
        elif isinstance(error, ApiException):
            message = f"{error.status} {error.reason}"
        else:
            message = f"{type(error).__name__}: {error}"
        message = f"watching {self.scope}: {message}; retrying"
        # 429: the API server asks to come back later (it does while it starts up).
        busy = isinstance(error, ApiException) and error.status == TOO_MANY_REQUESTS
        if message != self.last_error and not busy:
            log.warning("%s", message)
        self.last_error = message

    def _list(self) -> str:
        response = cast(HTTPResponse, self._call(_preload_content=False,
                                                 _request_timeout=REQUEST_TIMEOUT))
        try:
            body = json.loads(response.data)
        finally:
            response.release_conn()
        self._inventory.replace(self.kind, self.namespace, body.get("items") or [])
        return str(body["metadata"]["resourceVersion"])

    def _watch(self, resource_version: str) -> str:
        response = cast(HTTPResponse, self._call(
            watch=True, resource_version=resource_version, allow_watch_bookmarks=True,
            timeout_seconds=WATCH_SECONDS, _preload_content=False,
            _request_timeout=REQUEST_TIMEOUT,
        ))
        self._response = response
        try:
            if self._stopping.is_set():  # stop() ran before the response could be interrupted
                return resource_version
            for line in response:
                if not line.strip():
                    continue
                event = json.loads(line)
                event_type, obj = event.get("type"), event.get("object") or {}
                if event_type == "ERROR":
                    if obj.get("code") == GONE:
                        raise _Expired
                    raise ValueError(f"watch error: {obj.get('message', obj)}")
                resource_version = obj.get("metadata", {}).get("resourceVersion",
                                                               resource_version)
                if event_type in ("ADDED", "MODIFIED", "DELETED"):
                    self._inventory.apply(self.kind, event_type, obj)
        finally:
            self._response = None
            response.close()
        return resource_version
