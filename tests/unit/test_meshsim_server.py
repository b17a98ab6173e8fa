"""/metrics over HTTP on 127.0.0.1, and the package's public names."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from canary_operator.lab import meshsim
from canary_operator.lab.meshsim.server import MetricsServer


@pytest.fixture
def server() -> Iterator[MetricsServer]:
    calls = iter(range(1, 100))
    started = MetricsServer(lambda: f"meshsim_test_scrapes {next(calls)}\n")
    started.start()
    yield started
    started.stop()


def test_serves_the_current_text_at_every_scrape(server: MetricsServer) -> None:
    first = httpx.get(f"http://127.0.0.1:{server.port}/metrics")
    second = httpx.get(f"http://127.0.0.1:{server.port}/metrics")
    assert first.status_code == 200
    assert first.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert (first.text, second.text) == ("meshsim_test_scrapes 1\n", "meshsim_test_scrapes 2\n")


def test_other_paths_are_not_found(server: MetricsServer) -> None:
    assert httpx.get(f"http://127.0.0.1:{server.port}/").status_code == 404


def test_a_server_never_started_stops_cleanly() -> None:
    MetricsServer(lambda: "").stop()


def test_the_public_names_are_exactly_these() -> None:
    assert meshsim.__all__ == [
        "DEFAULT_RPS",
        "DEFAULT_TICK_SECONDS",
        "ERROR_CODE",
        "ERROR_RATE",
        "ISTIO_DURATION_BUCKETS_MS",
        "ISTIO_LABELS",
        "LATENCY_MS",
        "Behaviour",
        "Engine",
        "MeshSimError",
        "MeshSimulator",
        "RouteView",
        "Snapshot",
        "VirtualServiceView",
        "WorkloadView",
        "behaviour_from_annotations",
    ]
    assert all(hasattr(meshsim, name) for name in meshsim.__all__)
