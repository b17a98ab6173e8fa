"""Watches the benchmark keeps on the lab (as its admin): when each VirtualService's
canary weight changed and when each Canary's phase changed, stamped on arrival.

Both operators write the same objects, so these timestamps measure both the same way.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bench.apimetrics import admin_tls
from canary_operator.lab import Lab

VIRTUAL_SERVICES = "/apis/networking.istio.io/v1beta1/virtualservices"
CANARIES = "/apis/flagger.app/v1beta1/canaries"

Handler = Callable[[str, dict[str, Any], float], None]


class ListWatch:
    """List then watch one cluster-wide collection in a thread; every object seen (from
    the list and each ADDED or MODIFIED event) goes to `handle(type, object, wall time)`."""

    def __init__(self, lab: Lab, path: str, handle: Handler) -> None:
        self.path, self.handle = path, handle
        self._client = httpx.Client(base_url=lab.state.server, verify=admin_tls(lab),
                                    timeout=httpx.Timeout(10.0, read=120.0))
        self._stop = threading.Event()
        self.synced = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watch{path}", daemon=True)

    def start(self) -> ListWatch:
        self._thread.start()
        if not self.synced.wait(30):
            raise TimeoutError(f"could not list {self.path}")
        return self

    def _list(self) -> str:
        response = self._client.get(self.path)
        response.raise_for_status()
        body = response.json()
        now = time.time()
        for item in body.get("items", []):
            self.handle("ADDED", item, now)
        self.synced.set()
        return str(body["metadata"]["resourceVersion"])

    def _watch(self, version: str) -> str | None:
        """Follow events from `version`; the version to go on from, None to list again."""
        params = {"watch": "1", "resourceVersion": version, "timeoutSeconds": "60",
                  "allowWatchBookmarks": "true"}
        with self._client.stream("GET", self.path, params=params) as response:
            if response.status_code == 410:
                return None
            response.raise_for_status()
            for line in response.iter_lines():
                if self._stop.is_set():
                    return version
                if not line:
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object", {})
                if kind == "ERROR":
                    return None
                version = str(obj.get("metadata", {}).get("resourceVersion", version))
                if kind in ("ADDED", "MODIFIED"):
                    self.handle(kind, obj, time.time())
        return version

    def _run(self) -> None:
        version: str | None = None
        while not self._stop.is_set():
            try:
                version = self._list() if version is None else self._watch(version)
            except (httpx.HTTPError, ValueError, KeyError):
                if self._stop.wait(1.0):
                    return
                version = None

    def stop(self) -> None:
        self._stop.set()
        self._client.close()
        self._thread.join(timeout=5)


@dataclass(frozen=True)
class Change:
    at: float  # wall-clock seconds
    value: Any


def canary_weight(vs: dict[str, Any]) -> int | None:
    """The weight of the `-canary` destination in the VirtualService's weighted route."""
    apex = vs.get("metadata", {}).get("name", "")
    for rule in reversed(vs.get("spec", {}).get("http", []) or []):
        for route in rule.get("route", []) or []:
            host = str(route.get("destination", {}).get("host", ""))
            if host.split(".", maxsplit=1)[0] == f"{apex}-canary":
                return int(route.get("weight", 0) or 0)
    return None


class History:
    """Every change of one value per (namespace, name), in arrival order."""

    def __init__(self, extract: Callable[[dict[str, Any]], Any]) -> None:
        self.extract = extract
        self._lock = threading.Lock()
        self.changes: dict[tuple[str, str], list[Change]] = defaultdict(list)

    def __call__(self, kind: str, obj: dict[str, Any], at: float) -> None:
        meta = obj.get("metadata", {})
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        value = self.extract(obj)
        if value is None:
            return
        with self._lock:
            seen = self.changes[key]
            if not seen or seen[-1].value != value:
                seen.append(Change(at, value))

    def of(self, namespace: str, name: str) -> list[Change]:
        with self._lock:
            return list(self.changes.get((namespace, name), []))

    def in_namespace(self, namespace: str) -> dict[str, list[Change]]:
        with self._lock:
            return {name: list(v) for (ns, name), v in self.changes.items() if ns == namespace}

    def current(self, namespace: str, name: str) -> Any:
        seen = self.of(namespace, name)
        return seen[-1].value if seen else None


def canary_phase(canary: dict[str, Any]) -> str | None:
    phase = canary.get("status", {}).get("phase")
    return str(phase) if phase else None


class Watches:
    """VirtualService weights and Canary phases of the whole lab."""

    def __init__(self, lab: Lab) -> None:
        self.weights = History(canary_weight)
        self.phases = History(canary_phase)
        self._watches = [ListWatch(lab, VIRTUAL_SERVICES, self.weights),
                         ListWatch(lab, CANARIES, self.phases)]

    def start(self) -> Watches:
        for watch in self._watches:
            watch.start()
        return self

    def stop(self) -> None:
        for watch in self._watches:
            watch.stop()
