"""End-to-end fixtures: the mesh simulator feeding the test's Prometheus, and the
operator as a process watching the test's namespace."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from canary_operator.lab import Lab
from canary_operator.lab.meshsim import MeshSimulator
from tests.conftest import StartPrometheus


@pytest.fixture
def mesh(lab: Lab, namespace: str) -> Iterator[MeshSimulator]:
    simulator = MeshSimulator(lab.state.kubeconfig, namespaces=[namespace], rps=20)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def prometheus_url(prometheus: StartPrometheus, mesh: MeshSimulator) -> str:
    return prometheus([mesh.scrape_job()])

