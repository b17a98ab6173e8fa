"""A stand-in for Envoy sidecars in tests: Istio's standard request series, traffic on demand.

    exporter = IstioExporter.start()
    url = prometheus([exporter.scrape_job()])
    exporter.set_behaviour("test", "podinfo", rps=20, error_rate=0.2, latency_ms=800)
    ...
    exporter.stop()

A background thread turns each workload's behaviour into requests: `istio_requests_total`
grows by `rps` per second and every request is observed in
`istio_request_duration_milliseconds` at exactly `latency_ms`. Errors are spread evenly and
deterministically: with `error_rate=0.2`, requests 5, 10, 15, ... (2 of every 10) answer
500. Each request is reported twice, as Istio does for mesh traffic: by the destination
sidecar (`reporter="destination"`, which Flagger's builtin queries read) and by the source.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from types import TracebackType
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from canary_operator.lab.meshsim.labels import ISTIO_DURATION_BUCKETS_MS, ISTIO_LABELS, REPORTERS
from canary_operator.lab.processes import free_port
from canary_operator.lab.prometheus import static_job

SUCCESS_CODE = "200"
TICK_SECONDS = 0.05


@dataclass(frozen=True)
class Behaviour:
    rps: float
    error_rate: Fraction
    latency_ms: float
    error_code: str


@dataclass(frozen=True)
class Emitted:
    """Requests a workload has answered so far (per reporter)."""

    requests: int
    errors: int


@dataclass
class _Workload:
    behaviour: Behaviour
    labels: dict[str, dict[str, str]]  # reporter -> labels without response_code
    requests: int = 0
    errors: int = 0
    owed: float = 0.0  # requests due but not yet emitted (fractions of one)


class IstioExporter:
    """Istio's request metrics for workloads whose traffic the test controls.

    Create it with `IstioExporter.start()` (HTTP server plus traffic thread); a bare
    `IstioExporter()` only holds the registry, and `advance(seconds)` emits traffic by hand.
    """

    def __init__(self, source_workload: str = "loadtester") -> None:
        self.registry = CollectorRegistry()
        self.source_workload = source_workload
        self.port: int | None = None
        self._requests = Counter(
            "istio_requests_total", "Requests answered (Envoy sidecar stand-in)",
            ISTIO_LABELS, registry=self.registry,
        )
        self._durations = Histogram(
            "istio_request_duration_milliseconds", "Request duration in milliseconds",
            ISTIO_LABELS,
            buckets=ISTIO_DURATION_BUCKETS_MS, registry=self.registry,
        )
        self._workloads: dict[tuple[str, str], _Workload] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: Any = None

    # -- lifecycle ---------------------------------------------------------------------

    @classmethod
    def start(cls, source_workload: str = "loadtester",
              clock: Callable[[], float] = time.monotonic) -> IstioExporter:
        """Serve /metrics on 127.0.0.1 (a free port) and generate traffic in the background."""
        exporter = cls(source_workload)
        exporter.port = free_port()
        server, server_thread = start_http_server(
            exporter.port, addr="127.0.0.1", registry=exporter.registry
        )
        exporter._server = server
        traffic = threading.Thread(
            target=exporter._generate, args=(clock,), name="istio-exporter-traffic", daemon=True
        )
        traffic.start()
        exporter._threads = [server_thread, traffic]
        return exporter

    def stop(self) -> None:
        """Stop the traffic and the HTTP server (idempotent)."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []

    def __enter__(self) -> IstioExporter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    @property
    def address(self) -> str:
        """`127.0.0.1:<port>`, the scrape target."""
        if self.port is None:
            raise RuntimeError("the exporter is not serving; create it with IstioExporter.start()")
        return f"127.0.0.1:{self.port}"

    def scrape_job(self, name: str = "istio-exporter") -> dict[str, Any]:
        """A Prometheus scrape job for this exporter (for the `prometheus` fixture)."""
        return static_job(name, [self.address])

    # -- traffic -------------------------------------------------------------------------

    def set_behaviour(
        self,
        namespace: str,
        workload: str,
        rps: float = 20,
        error_rate: float = 0.0,
        latency_ms: float = 50,
        *,
        error_code: int = 500,
        service: str | None = None,
        app: str | None = None,
        version: str = "unknown",
    ) -> None:
        """Serve `rps` requests a second to `namespace`/`workload`, `error_rate` of them
        answering `error_code`, every one taking `latency_ms`.

        Calling it again changes the behaviour and keeps the counters (they only grow);
        `rps=0` stops the traffic while the series stay, so rates drop to 0 (and ratios of
        rates to NaN). `service` defaults to the workload name, `app` to the workload name.
        """
        if rps < 0 or not math.isfinite(rps):
            raise ValueError(f"rps must be a finite number >= 0 (got {rps})")
        if not 0 <= error_rate <= 1:
            raise ValueError(f"error_rate must be between 0 and 1 (got {error_rate})")
        if latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0 (got {latency_ms})")
        if not 500 <= error_code <= 599:
            raise ValueError(f"error_code must be a 5xx status (got {error_code})")
        behaviour = Behaviour(
            rps=float(rps),
            error_rate=Fraction(error_rate).limit_denominator(10_000),
            latency_ms=float(latency_ms),
            error_code=str(error_code),
        )
        key = (namespace, workload)
        with self._lock:
            existing = self._workloads.get(key)
            if existing is not None:
                existing.behaviour = behaviour
            else:
                labels = {
                    reporter: self._labels(reporter, namespace, workload, service, app, version)
                    for reporter in REPORTERS
                }
                self._workloads[key] = _Workload(behaviour, labels)
            # Create the series at 0 before any request, so that rate() sees them start
            # together and an error series exists before the first error.
            for labels in self._workloads[key].labels.values():
                for code in (SUCCESS_CODE, behaviour.error_code):
                    self._requests.labels(**labels, response_code=code)
                    self._durations.labels(**labels, response_code=code)

    def emitted(self, namespace: str, workload: str) -> Emitted:
        with self._lock:
            state = self._workloads.get((namespace, workload))
            if state is None:
                return Emitted(0, 0)
            return Emitted(state.requests, state.errors)

    def advance(self, seconds: float) -> None:
        """Emit the traffic every workload serves in `seconds` (the thread calls this)."""
        with self._lock:
            for state in self._workloads.values():
                due = state.owed + state.behaviour.rps * seconds
                count = int(due)
                state.owed = due - count
                if count:
                    self._emit(state, count)

    def _emit(self, state: _Workload, count: int) -> None:
        behaviour = state.behaviour
        # Errors at the requests where floor(n * error_rate) steps up: evenly spread and
        # exact over every run of 1/error_rate requests.
        before = state.requests
        errors = math.floor((before + count) * behaviour.error_rate) - math.floor(
            before * behaviour.error_rate
        )
        state.requests += count
        state.errors += errors
        for labels in state.labels.values():
            for code, answered in ((SUCCESS_CODE, count - errors),
                                   (behaviour.error_code, errors)):
                if not answered:
                    continue
                self._requests.labels(**labels, response_code=code).inc(answered)
                histogram = self._durations.labels(**labels, response_code=code)
                for _ in range(answered):
                    histogram.observe(behaviour.latency_ms)

    def _generate(self, clock: Callable[[], float]) -> None:
        last = clock()
        while not self._stopping.wait(TICK_SECONDS):
            now = clock()
            self.advance(now - last)
            last = now

    def _labels(self, reporter: str, namespace: str, workload: str, service: str | None,
                app: str | None, version: str) -> dict[str, str]:
        service_name = service or workload
        destination_app = app or workload
        return {
            "reporter": reporter,
            "source_workload": self.source_workload,
            "source_workload_namespace": namespace,
            "source_principal": f"spiffe://cluster.local/ns/{namespace}/sa/{self.source_workload}",
            "source_app": self.source_workload,
            "source_version": "unknown",
            "source_canonical_service": self.source_workload,
            "source_canonical_revision": "latest",
            "source_cluster": "Kubernetes",
            "destination_workload": workload,
            "destination_workload_namespace": namespace,
            "destination_principal": f"spiffe://cluster.local/ns/{namespace}/sa/default",
            "destination_app": destination_app,
            "destination_version": version,
            "destination_service": f"{service_name}.{namespace}.svc.cluster.local",
            "destination_service_name": service_name,
            "destination_service_namespace": namespace,
            "destination_canonical_service": destination_app,
            "destination_canonical_revision": "latest" if version == "unknown" else version,
            "destination_cluster": "Kubernetes",
            "request_protocol": "http",
            "grpc_response_status": "",
            "response_flags": "-",
            # Only the destination sidecar knows the connection was mTLS.
            "connection_security_policy": "mutual_tls" if reporter == "destination" else "unknown",
        }
