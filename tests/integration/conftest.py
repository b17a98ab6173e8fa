"""Fixtures of the operator tests on the lab: a fake Istio exporter feeding the test's
Prometheus, the operator as a process watching the test's namespace, and the Cluster
helper for the test's Canary."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from canary_operator.lab import Lab
from tests.canary_cluster import Cluster
from tests.conftest import StartPrometheus
from tests.istio_exporter import IstioExporter


@pytest.fixture
def exporter() -> Iterator[IstioExporter]:
    with IstioExporter.start() as started:
        yield started


@pytest.fixture
def prometheus_url(prometheus: StartPrometheus, exporter: IstioExporter) -> str:
    return prometheus([exporter.scrape_job()])



@pytest.fixture
def cluster(lab: Lab, api: client.ApiClient, namespace: str) -> Cluster:
    return Cluster(lab, api, namespace)
