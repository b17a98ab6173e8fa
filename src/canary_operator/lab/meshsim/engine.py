"""The simulator without its I/O: inventory in, traffic steps, metrics text and views out.

`MeshSimulator` drives an `Engine` from watch threads, a ticker and an HTTP server; tests
drive it by hand with `inventory.apply(...)` and `step(seconds)`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from canary_operator.lab.meshsim.exposition import Exposition
from canary_operator.lab.meshsim.inventory import Inventory
from canary_operator.lab.meshsim.labels import INGRESS_GATEWAY, REPORTERS, Peer
from canary_operator.lab.meshsim.ledger import Ledger
from canary_operator.lab.meshsim.routing import resolve
from canary_operator.lab.meshsim.views import Snapshot


class Engine:
    def __init__(self, rps: float, source: Peer = INGRESS_GATEWAY,
                 reporters: Sequence[str] = REPORTERS) -> None:
        self.inventory = Inventory()
        self._ledger = Ledger(rps)
        self._exposition = Exposition(source, reporters)
        self._lock = threading.Lock()
        # VirtualService -> the namespaces whose objects decide where its requests go.
        self._depends_on: dict[tuple[str, str], frozenset[str]] = {}

    def step(self, seconds: float) -> None:
        """Follow what changed in the cluster, then send `seconds` of traffic."""
        with self._lock:
            self._refresh_routes()
            self._ledger.advance(seconds)

    def _refresh_routes(self) -> None:
        dirty = self.inventory.take_dirty()
        if not dirty:
            return
        affected = {key for key, namespaces in self._depends_on.items() if namespaces & dirty}
        for namespace in dirty:
            affected.update((vs.namespace, vs.name)
                            for vs in self.inventory.virtual_services(namespace))
        for namespace, name in affected:
            vs = self.inventory.virtual_service(namespace, name)
            if vs is None:
                self._ledger.remove(namespace, name)
                self._depends_on.pop((namespace, name), None)
                continue
            targets = resolve(vs, self.inventory)
            self._ledger.set_routes(vs, targets)
            self._depends_on[namespace, name] = frozenset(
                {namespace, *(target.service.namespace for target in targets)}
            )

    def metrics_text(self) -> str:
        with self._lock:
            return self._exposition.render(self._ledger.series())

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._ledger.snapshot()
