"""PrometheusProvider against the lab's real Prometheus scraping Istio-like series.

The exporter models the traffic exactly (tests/istio_exporter.py), so the builtin queries
must give the modelled success rate and P99; no traffic must give no data, and a
Prometheus that is gone must give an error, never an exception.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator

import pytest

from canary_operator.lab import Lab
from canary_operator.lab.processes import free_port
from canary_operator.metrics import BUILTIN_METRICS, PrometheusProvider, QueryResult, builtin_query
from canary_operator.metrics.batching import BuiltinBatcher
from tests.conftest import StartPrometheus
from tests.istio_exporter import IstioExporter

WINDOW = "10s"
# Prometheus scrapes every second, so a full 10 s window holds 9 or 10 samples.
FULL_WINDOW_SAMPLES = 9


@pytest.fixture
def mesh_namespace() -> str:
    """A namespace label no earlier test used: the lab's Prometheus keeps its data between
    starts, so series from earlier tests may still be inside the query window."""
    return f"m-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def istio() -> Iterator[IstioExporter]:
    exporter = IstioExporter.start()
    yield exporter
    exporter.stop()


def run_query(url: str, promql: str, timeout: float = 5.0) -> QueryResult:
    async def once() -> QueryResult:
        async with PrometheusProvider(url, timeout=timeout) as provider:
            return await provider.query(promql)

    return asyncio.run(once())


def online(url: str) -> bool:
    async def once() -> bool:
        async with PrometheusProvider(url) as provider:
            return await provider.is_online()

    return asyncio.run(once())


def samples_in_window(url: str, namespace: str, workload: str) -> float:
    """How many scrapes of the workload's series the query window holds right now."""
    result = run_query(
        url,
        f'count_over_time(istio_requests_total{{reporter="destination",'
        f'destination_workload_namespace="{namespace}",destination_workload="{workload}",'
        f'response_code="200"}}[{WINDOW}])',
    )
    return result.value or 0.0


def wait_for_full_window(lab: Lab, url: str, namespace: str, *workloads: str) -> None:
    for workload in workloads:
        lab.wait_for(
            lambda workload=workload: (
                samples_in_window(url, namespace, workload) >= FULL_WINDOW_SAMPLES
            ),
            f"prometheus to hold a full {WINDOW} of {namespace}/{workload}'s requests",
            timeout=60,
        )


def test_success_rate_of_a_canary_answering_20_percent_errors_is_80(
    lab: Lab, prometheus: StartPrometheus, istio: IstioExporter, mesh_namespace: str
) -> None:
    istio.set_behaviour(mesh_namespace, "podinfo", rps=20, error_rate=0.2)
    istio.set_behaviour(mesh_namespace, "podinfo-primary", rps=20, error_rate=0.0)
    url = prometheus([istio.scrape_job()])
    wait_for_full_window(lab, url, mesh_namespace, "podinfo", "podinfo-primary")

    canary = run_query(
        url, builtin_query("request-success-rate", mesh_namespace, "podinfo", WINDOW)
    )
    primary = run_query(
        url, builtin_query("request-success-rate", mesh_namespace, "podinfo-primary", WINDOW)
    )

    assert canary.error is None
    # 2 of every 10 requests fail; over ~200 requests in the window the count is off by
    # at most one request at either edge.
    assert canary.value == pytest.approx(80.0, abs=2.0)
    # The regex is anchored: the canary's query does not see the primary's clean traffic.
    assert primary.value == 100.0
    assert "\n" not in canary.query


def test_p99_of_requests_taking_800ms_is_interpolated_in_the_500_to_1000_bucket(
    lab: Lab, prometheus: StartPrometheus, istio: IstioExporter, mesh_namespace: str
) -> None:
    istio.set_behaviour(mesh_namespace, "podinfo", rps=20, latency_ms=800)
    istio.set_behaviour(mesh_namespace, "podinfo-primary", rps=20, latency_ms=50)
    url = prometheus([istio.scrape_job()])
    wait_for_full_window(lab, url, mesh_namespace, "podinfo", "podinfo-primary")

    canary = run_query(
        url, builtin_query("request-duration", mesh_namespace, "podinfo", WINDOW)
    )
    primary = run_query(
        url, builtin_query("request-duration", mesh_namespace, "podinfo-primary", WINDOW)
    )

    # Every observation lands in the (500, 1000] bucket; histogram_quantile interpolates
    # linearly inside it: 500 + 0.99 * (1000 - 500) = 995. Likewise 25 + 0.99 * 25 for 50 ms.
    assert canary.error is None
    assert canary.value is not None
    assert 500 < canary.value <= 1000
    assert canary.value == pytest.approx(995.0, abs=0.5)
    assert primary.value == pytest.approx(49.75, abs=0.05)


def test_a_workload_without_traffic_gives_no_data(
    lab: Lab, prometheus: StartPrometheus, istio: IstioExporter, mesh_namespace: str
) -> None:
    istio.set_behaviour(mesh_namespace, "busy", rps=20)
    istio.set_behaviour(mesh_namespace, "idle", rps=0)  # its series exist and stay at 0
    url = prometheus([istio.scrape_job()])
    wait_for_full_window(lab, url, mesh_namespace, "busy", "idle")

    idle_rate = run_query(
        url,
        f'sum(rate(istio_requests_total{{destination_workload_namespace="{mesh_namespace}",'
        f'destination_workload="idle"}}[{WINDOW}]))',
    )
    assert idle_rate.value == 0.0  # so the success rate below is 0/0: NaN

    for name in ("request-success-rate", "request-duration"):
        for workload in ("idle", "never-deployed"):
            result = run_query(url, builtin_query(name, mesh_namespace, workload, WINDOW))
            assert result.no_data, (name, workload, result)
            assert result.value is None
            assert result.error is None


def test_bad_and_range_queries_are_errors_from_real_prometheus(
    prometheus: StartPrometheus,
) -> None:
    url = prometheus([])

    unparsable = run_query(url, "sum(rate(x[1m])")
    assert unparsable.value is None
    assert unparsable.error is not None
    assert unparsable.error.startswith(f"Prometheus at {url} answered HTTP 400: bad_data: ")

    matrix = run_query(url, "vector(1)[1m:1s]")
    assert matrix.error is not None
    assert "range vector (matrix)" in matrix.error

    assert run_query(url, "scalar(vector(7))").value == 7.0


def test_a_stopped_prometheus_gives_an_error_and_is_offline(
    lab: Lab, prometheus: StartPrometheus
) -> None:
    url = prometheus([])
    assert online(url)

    lab.stop_prometheus()

    result = run_query(url, "vector(1)")
    assert result.value is None
    assert result.error is not None
    assert result.error.startswith(f"cannot connect to Prometheus at {url}: ")
    assert not online(url)


def test_an_address_where_nothing_listens_gives_an_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_query(url, "vector(1)")
    assert result.error is not None
    assert result.error.startswith(f"cannot connect to Prometheus at {url}: ")
    assert not online(url)


def test_a_server_that_never_answers_times_out_with_an_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel accepts connections; nobody ever reads or answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        result = run_query(url, "vector(1)", timeout=0.5)
    assert result == QueryResult("vector(1)", None, f"Prometheus at {url} did not answer "
                                 "within 0.5s")


def test_one_batch_query_gives_each_workload_the_value_of_its_own_query(
    lab: Lab, prometheus: StartPrometheus, istio: IstioExporter, mesh_namespace: str
) -> None:
    istio.set_behaviour(mesh_namespace, "podinfo", rps=20, error_rate=0.2, latency_ms=800)
    istio.set_behaviour(mesh_namespace, "podinfo-primary", rps=20, latency_ms=50)
    istio.set_behaviour(mesh_namespace, "idle", rps=0)
    url = prometheus([istio.scrape_job()])
    wait_for_full_window(lab, url, mesh_namespace, "podinfo", "podinfo-primary", "idle")
    workloads = ["podinfo", "podinfo-primary", "idle", "never-deployed"]

    async def both() -> list[tuple[QueryResult, QueryResult]]:
        async with PrometheusProvider(url) as provider:
            batcher = BuiltinBatcher(provider)
            asks = [(name, workload) for name in BUILTIN_METRICS for workload in workloads]
            batched = await asyncio.gather(*(batcher.query(name, mesh_namespace, workload,
                                                           WINDOW)
                                             for name, workload in asks))
            single = [await provider.query(builtin_query(name, mesh_namespace, workload,
                                                         WINDOW))
                      for name, workload in asks]
            await batcher.aclose()
            return list(zip(batched, single, strict=True))

    pairs = asyncio.run(both())
    for batched, single in pairs:
        assert batched.error is None and single.error is None
        assert batched.query == single.query
        # The two queries are evaluated a moment apart, so a window edge may hold one
        # request more or less.
        if single.value is None:
            assert batched.value is None, batched
        else:
            assert batched.value == pytest.approx(single.value, rel=0.02), batched
    values = {batched.query: batched.value for batched, _ in pairs}
    assert sum(value is not None for value in values.values()) == 4  # the two busy ones
