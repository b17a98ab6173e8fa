"""Fixtures on the lab: one control plane per test session, a namespace per test,
Prometheus on demand. Integration tests request `lab`; unit tests never start it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from canary_operator.lab import Lab
from canary_operator.lab.crds import install_crds
from canary_operator.lab.workloads import create_namespace
from tests.operator_harness import OperatorProcess
from tests.paths import REPO, shared_testdata


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    state_dir = tmp_path_factory.mktemp("lab") / "state"
    started = Lab.up(state_dir=state_dir, data_dir=shared_testdata())
    try:
        yield started
    finally:
        started.down()


@pytest.fixture(scope="session")
def api(lab: Lab) -> client.ApiClient:
    return lab.api_client()


@pytest.fixture
def namespace(lab: Lab, api: client.ApiClient) -> Iterator[str]:
    """A fresh namespace whose `default` ServiceAccount exists (pods need it)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    create_namespace(api, name, lab.wait_for)
    yield name
    client.CoreV1Api(api).delete_namespace(name)


StartPrometheus = Callable[[Sequence[dict[str, Any]]], str]


@pytest.fixture
def prometheus(lab: Lab) -> Iterator[StartPrometheus]:
    """Start Prometheus with the test's scrape jobs; it is stopped after the test."""
    started: list[str] = []

    def start(scrape_configs: Sequence[dict[str, Any]]) -> str:
        url = lab.start_prometheus(scrape_configs)
        started.append(url)
        return url

    yield start
    if started:
        lab.stop_prometheus()


@pytest.fixture
def testdata() -> Path | None:
    return shared_testdata()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by folder, so `-m "not e2e"` and friends select layers."""
    for item in items:
        for layer in ("integration", "e2e"):
            if f"/{layer}/" in str(item.path):
                item.add_marker(getattr(pytest.mark, layer))


@pytest.fixture(scope="session")
def canary_crds(lab: Lab, api: client.ApiClient) -> None:
    """Our CRDs (crds/), installed once per session."""
    for path in sorted((REPO / "crds").glob("*.yaml")):
        install_crds(api, path)


@pytest.fixture
def operator(lab: Lab, namespace: str, prometheus_url: str, canary_crds: None,
             tmp_path: Path) -> Iterator[OperatorProcess]:
    """The operator as a process watching the test's namespace; `prometheus_url` comes
    from the integration or end-to-end conftest (a fake exporter or the simulator)."""
    process = OperatorProcess(lab, [namespace], prometheus_url, tmp_path)
    process.start()
    yield process
    process.stop()
