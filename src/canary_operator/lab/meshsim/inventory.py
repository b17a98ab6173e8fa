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


LabelKey = tuple[str, str, str]  # (namespace, label, value)


class Inventory:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[Kind, dict[str, dict[str, Any]]] = {kind: {} for kind in Kind}
        self._dirty: set[str] = set()
        # Deployments by pod-template label: a Service's endpoints are found without
        # scanning its namespace (thousands of Deployments in the benchmarks).
        self._by_label: dict[LabelKey, set[str]] = {}

    # -- writes (watch threads) --------------------------------------------------------

    def apply(self, kind: Kind, event_type: str, obj: Mapping[str, Any]) -> None:
        """Record one watch event (ADDED, MODIFIED or DELETED)."""
        info = _PARSERS[kind](obj)
        with self._lock:
            in_namespace = self._objects[kind].setdefault(info.namespace, {})
            before = in_namespace.pop(info.name, None)
            self._unindex(before)
            if event_type != "DELETED":
                self._warn_once(before, info)
                in_namespace[info.name] = info
                self._index(info)
            self._dirty.add(info.namespace)

    def replace(self, kind: Kind, namespace: str | None,
                objects: Iterable[Mapping[str, Any]]) -> None:
        """Replace everything known of `kind` in `namespace` (all when None) by a fresh list."""
        infos = [_PARSERS[kind](obj) for obj in objects]
        with self._lock:
            table = self._objects[kind]
            stale = [namespace] if namespace is not None else list(table)
            before = {ns: table.pop(ns, {}) for ns in stale}
            for gone in before.values():
                for old in gone.values():
                    self._unindex(old)
            self._dirty.update(stale)
            for info in infos:
                self._warn_once(before.get(info.namespace, {}).get(info.name), info)
                table.setdefault(info.namespace, {})[info.name] = info
                self._index(info)
                self._dirty.add(info.namespace)

    def _index(self, info: object) -> None:
        if isinstance(info, DeploymentInfo):
            for label, value in info.template_labels.items():
                self._by_label.setdefault((info.namespace, label, value), set()).add(info.name)

    def _unindex(self, info: object) -> None:
        if isinstance(info, DeploymentInfo):
            for label, value in info.template_labels.items():
                names = self._by_label.get((info.namespace, label, value))
                if names is not None:
                    names.discard(info.name)
                    if not names:
                        del self._by_label[info.namespace, label, value]

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

    def selected(self, namespace: str, selector: Mapping[str, str]) -> list[DeploymentInfo]:
        """The Deployments of `namespace` whose pod-template labels `selector` matches
        (an empty selector matches none, as for a Service)."""
        with self._lock:
            candidates = [self._by_label.get((namespace, label, value), set())
                          for label, value in selector.items()]
            if not candidates:
                return []
            names = set.intersection(*candidates)
            in_namespace = self._objects[Kind.DEPLOYMENT].get(namespace, {})
            return [in_namespace[name] for name in names]
