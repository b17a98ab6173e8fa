"""What the watches have seen: VirtualServices, Services and Deployments by namespace.

Watch threads write; the traffic thread reads. Every change marks its namespace dirty so
the traffic thread re-resolves only the VirtualServices it can affect.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any

from canary_operator.lab.meshsim.objects import (
    DeploymentInfo,
    ServiceInfo,
    VirtualServiceInfo,
    deployment_from,
    service_from,
    virtual_service_from,
)

log = logging.getLogger(__name__)


class Kind(Enum):
    VIRTUAL_SERVICE = "VirtualService"
    SERVICE = "Service"
    DEPLOYMENT = "Deployment"


_PARSERS: dict[Kind, Callable[[Mapping[str, Any]], Any]] = {
    Kind.VIRTUAL_SERVICE: virtual_service_from,
    Kind.SERVICE: service_from,
    Kind.DEPLOYMENT: deployment_from,
}


class Inventory:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[Kind, dict[str, dict[str, Any]]] = {kind: {} for kind in Kind}
        self._dirty: set[str] = set()

    # -- writes (watch threads) --------------------------------------------------------

    def apply(self, kind: Kind, event_type: str, obj: Mapping[str, Any]) -> None:
        """Record one watch event (ADDED, MODIFIED or DELETED)."""
        info = _PARSERS[kind](obj)
        with self._lock:
            in_namespace = self._objects[kind].setdefault(info.namespace, {})
            if event_type == "DELETED":
                in_namespace.pop(info.name, None)
            else:
                self._warn_once(in_namespace.get(info.name), info)
                in_namespace[info.name] = info
            self._dirty.add(info.namespace)

    def replace(self, kind: Kind, namespace: str | None,
                objects: Iterable[Mapping[str, Any]]) -> None:
        """Replace everything known of `kind` in `namespace` (all when None) by a fresh list."""
        infos = [_PARSERS[kind](obj) for obj in objects]
        with self._lock:
            table = self._objects[kind]
            stale = [namespace] if namespace is not None else list(table)
            before = {ns: table.pop(ns, {}) for ns in stale}
            self._dirty.update(stale)
            for info in infos:
                self._warn_once(before.get(info.namespace, {}).get(info.name), info)
                table.setdefault(info.namespace, {})[info.name] = info
                self._dirty.add(info.namespace)

    @staticmethod
    def _warn_once(before: object, after: object) -> None:
        problems = after.problems if isinstance(after, DeploymentInfo | VirtualServiceInfo) \
            else ()
        if problems and getattr(before, "problems", None) != problems:
            for problem in problems:
                log.warning("%s", problem)

    # -- reads (traffic thread) ---------------------------------------------------------

    def take_dirty(self) -> set[str]:
        """The namespaces changed since the last call."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
        return dirty

    def virtual_services(self, namespace: str) -> list[VirtualServiceInfo]:
        with self._lock:
            return list(self._objects[Kind.VIRTUAL_SERVICE].get(namespace, {}).values())

    def virtual_service(self, namespace: str, name: str) -> VirtualServiceInfo | None:
        with self._lock:
            found: VirtualServiceInfo | None = (
                self._objects[Kind.VIRTUAL_SERVICE].get(namespace, {}).get(name)
            )
            return found

    def service(self, namespace: str, name: str) -> ServiceInfo | None:
        with self._lock:
            found: ServiceInfo | None = self._objects[Kind.SERVICE].get(namespace, {}).get(name)
            return found

    def deployments(self, namespace: str) -> list[DeploymentInfo]:
        with self._lock:
            return list(self._objects[Kind.DEPLOYMENT].get(namespace, {}).values())
