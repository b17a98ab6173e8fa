"""Fixtures of the operator tests on the lab: a fake Istio exporter feeding the test's
Prometheus, the operator as a process watching the test's namespace, and the Cluster
helper for the test's Canary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from canary_operator.lab import Lab
from tests.canary_cluster import Cluster
from tests.conftest import StartPrometheus
from tests.istio_exporter import IstioExporter
from tests.operator_harness import OperatorProcess


@pytest.fixture
def exporter() -> Iterator[IstioExporter]:
    with IstioExporter.start() as started:
        yield started


@pytest.fixture
def prometheus_url(prometheus: StartPrometheus, exporter: IstioExporter) -> str:
    return prometheus([exporter.scrape_job()])


@pytest.fixture
def operator(lab: Lab, namespace: str, prometheus_url: str, canary_crds: None,
             tmp_path: Path) -> Iterator[OperatorProcess]:
    process = OperatorProcess(lab, [namespace], prometheus_url, tmp_path)
    process.start()
    yield process
    process.stop()


@pytest.fixture
def cluster(lab: Lab, api: client.ApiClient, namespace: str) -> Cluster:
    return Cluster(lab, api, namespace)
