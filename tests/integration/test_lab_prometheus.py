"""The lab's Prometheus scrapes what the caller asks it to, every second."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_api_client import PrometheusConnect
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from canary_operator.lab import Lab
from canary_operator.lab.processes import free_port
from canary_operator.lab.prometheus import static_job
from tests.conftest import StartPrometheus


@pytest.fixture
def exporter() -> Iterator[tuple[int, Gauge]]:
    registry = CollectorRegistry()
    gauge = Gauge("lab_test_temperature", "A value the test controls", registry=registry)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield port, gauge
    server.shutdown()
    thread.join()


def test_prometheus_scrapes_a_test_exporter(
    lab: Lab, prometheus: StartPrometheus, exporter: tuple[int, Gauge]
) -> None:
    port, gauge = exporter
    gauge.set(42.5)
    url = prometheus([static_job("exporter", [f"127.0.0.1:{port}"])])
    assert url.startswith("http://127.0.0.1:")
    prom = PrometheusConnect(url=url)

    def value() -> float | None:
        result = prom.custom_query("lab_test_temperature")
        return float(result[0]["value"][1]) if result else None

    lab.wait_for(lambda: value() == 42.5, "prometheus to scrape 42.5", timeout=60)
    gauge.set(7)
    lab.wait_for(lambda: value() == 7.0, "prometheus to scrape the new value 7", timeout=30)
