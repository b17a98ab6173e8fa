"""End-to-end fixtures: the mesh simulator feeding the test's Prometheus, and the
operator as a process watching the test's namespace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from canary_operator.lab import Lab
from canary_operator.lab.meshsim import MeshSimulator
from tests.conftest import StartPrometheus
from tests.operator_harness import OperatorProcess


@pytest.fixture
def mesh(lab: Lab, namespace: str) -> Iterator[MeshSimulator]:
    simulator = MeshSimulator(lab.state.kubeconfig, namespaces=[namespace], rps=20)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def prometheus_url(prometheus: StartPrometheus, mesh: MeshSimulator) -> str:
    return prometheus([mesh.scrape_job()])


@pytest.fixture
def operator(lab: Lab, namespace: str, prometheus_url: str, canary_crds: None,
             tmp_path: Path) -> Iterator[OperatorProcess]:
    process = OperatorProcess(lab, [namespace], prometheus_url, tmp_path)
    process.start()
    yield process
    process.stop()
