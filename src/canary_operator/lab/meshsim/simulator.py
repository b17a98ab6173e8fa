"""`MeshSimulator`: the engine wired to the cluster (watches), a clock and /metrics."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from kubernetes import client, config

from canary_operator.lab.errors import LabError
from canary_operator.lab.meshsim.engine import Engine
from canary_operator.lab.meshsim.inventory import Kind
from canary_operator.lab.meshsim.labels import REPORTERS
from canary_operator.lab.meshsim.server import MetricsServer
from canary_operator.lab.meshsim.views import Snapshot
from canary_operator.lab.meshsim.watching import Watcher
from canary_operator.lab.prometheus import static_job

log = logging.getLogger(__name__)

DEFAULT_RPS = 20.0
DEFAULT_TICK_SECONDS = 0.25
SYNC_TIMEOUT = 30.0


class MeshSimError(LabError):
    """The simulator could not start: the cluster is unreachable or a list failed."""


class MeshSimulator:
    """A stand-in for Istio's Envoy sidecars, for the lab: watches VirtualServices, sends
    each `rps` requests a second split by its live weights, and serves Istio's request
    metrics for Prometheus.

        sim = MeshSimulator(lab.state.kubeconfig, namespaces=["test"])
        address = sim.start()           # "127.0.0.1:<port>", once the watches have synced
        url = lab.start_prometheus([sim.scrape_job()])
        ...
        sim.stop()

    `namespaces` limits the watches (default: the whole cluster). `reporters` chooses the
    sidecars that report: both, as Istio does, or only "destination" (all Flagger reads)
    for half the series.
    """

    def __init__(
        self,
        kubeconfig: Path,
        namespaces: Sequence[str] = (),
        rps: float = DEFAULT_RPS,
        tick_seconds: float = DEFAULT_TICK_SECONDS,
        *,
        reporters: Sequence[str] = REPORTERS,
    ) -> None:
        if not tick_seconds > 0:
            raise ValueError(f"tick_seconds must be > 0 (got {tick_seconds})")
        self.kubeconfig = kubeconfig
        self.namespaces = tuple(dict.fromkeys(namespaces))
        self.tick_seconds = tick_seconds
        self.engine = Engine(rps, reporters=reporters)
        self._stopping = threading.Event()
        self._api: client.ApiClient | None = None
        self._watchers: list[Watcher] = []
        self._server: MetricsServer | None = None
        self._ticker: threading.Thread | None = None
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, port: int | None = None, sync_timeout: float = SYNC_TIMEOUT) -> str:
        """Watch the cluster, wait for the first lists, then generate traffic and serve
        /metrics on 127.0.0.1:`port` (a free one by default). Returns "127.0.0.1:<port>"."""
        if self._started:
            raise MeshSimError("a mesh simulator starts once; create another one")
        self._started = True
        try:
            self._start_watches(sync_timeout)
            self.engine.step(0.0)
            try:
                self._server = MetricsServer(self.engine.metrics_text, port or 0)
            except OSError as error:
                raise MeshSimError(
                    f"mesh simulator: cannot serve /metrics on 127.0.0.1:{port}: "
                    f"{error.strerror or error}; choose another --port"
                ) from error
            self._server.start()
            self._ticker = threading.Thread(target=self._tick, name="meshsim-traffic",
                                            daemon=True)
            self._ticker.start()
        except BaseException:
            self.stop()
            raise
        log.info("mesh simulator serving http://%s/metrics", self.address)
        return self.address

    def _start_watches(self, timeout: float) -> None:
        scopes: Sequence[str | None] = self.namespaces or (None,)
        self._api = _api_client(self.kubeconfig, connections=3 * len(scopes) + 2)
        self._watchers = [
            Watcher(self._api, kind, scope, self.engine.inventory, self._stopping)
            for scope in scopes for kind in Kind
        ]
        for watcher in self._watchers:
            watcher.start()
        deadline = time.monotonic() + timeout
        for watcher in self._watchers:
            if not watcher.synced.wait(max(deadline - time.monotonic(), 0)):
                raise MeshSimError(
                    f"mesh simulator: could not list {watcher.scope} within {timeout:.0f}s "
                    f"({watcher.last_error or 'no answer'}); is the cluster in "
                    f"{self.kubeconfig} up?"
                )

    def _tick(self) -> None:
        last = time.monotonic()
        while not self._stopping.wait(self.tick_seconds):
            now = time.monotonic()
            try:
                self.engine.step(now - last)
            except Exception:  # keep the traffic flowing; the next step may succeed
                log.exception("mesh simulator: a traffic step failed")
            last = now

    def stop(self) -> None:
        """Stop the traffic, the watches and /metrics (idempotent)."""
        self._stopping.set()
        for watcher in self._watchers:
            watcher.interrupt()
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._ticker is not None:
            self._ticker.join(timeout=10)
        for watcher in self._watchers:
            watcher.join(timeout=2)
        self._watchers = []
        if self._api is not None:
            self._api.close()  # type: ignore[no-untyped-call]
            self._api = None

    def __enter__(self) -> MeshSimulator:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    # -- what it shows -----------------------------------------------------------------

    @property
    def address(self) -> str:
        """"127.0.0.1:<port>", the scrape target."""
        if self._server is None:
            raise MeshSimError("the mesh simulator is not serving; call start() first")
        return f"127.0.0.1:{self._server.port}"

    def scrape_job(self, name: str = "meshsim") -> dict[str, Any]:
        """A Prometheus scrape job for this simulator (`Lab.start_prometheus([...])`)."""
        return static_job(name, [self.address])

    def snapshot(self) -> Snapshot:
        """Per VirtualService its weights and requests so far; per workload its counts."""
        return self.engine.snapshot()

    def metrics_text(self) -> str:
        """What /metrics serves right now."""
        return self.engine.metrics_text()


def _api_client(kubeconfig: Path, connections: int) -> client.ApiClient:
    # One pooled connection per watch, or urllib3 would drop and reopen them.
    configuration = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig), client_configuration=configuration
    )
    configuration.connection_pool_maxsize = connections
    configuration.retries = 0  # the watchers retry every second themselves, quietly
    return client.ApiClient(configuration)
