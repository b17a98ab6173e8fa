"""The operator end to end on the lab: the real API server, real Prometheus, and a test
exporter emitting Istio's series with values each test controls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from prometheus_api_client import PrometheusConnect

from canary_operator.lab import Lab
from canary_operator.metrics.builtin import builtin_query
from tests.canary_cluster import Cluster, WeightSampler, dedupe
from tests.istio_exporter import IstioExporter
from tests.operator_harness import OperatorProcess

ISSUE_EXAMPLE = """
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: backend-service
  namespace: prod
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: backend-service
  service:
    port: 80
    gateways:
    - public-gateway.istio-system.svc.cluster.local
    hosts:
    - api.example.com
  analysis:
    interval: 1m
    threshold: 5
    maxWeight: 50
    stepWeight: 10
    metrics:
    - name: request-success-rate
      thresholdRange:
        min: 99
      interval: 1m
    - name: request-duration
      thresholdRange:
        max: 500
      interval: 1m
"""

NAME = "backend-service"
GOOD, BAD = "podinfo:6.9.1", "podinfo:6.9.2"


def example(namespace: str, interval: str = "1s", metric_window: str = "10s",
            threshold: int = 5) -> dict[str, Any]:
    """The issue's Canary, in the test's namespace, with test-sized intervals."""
    canary: dict[str, Any] = yaml.safe_load(ISSUE_EXAMPLE)
    canary["metadata"]["namespace"] = namespace
    canary["spec"]["analysis"]["interval"] = interval
    canary["spec"]["analysis"]["threshold"] = threshold
    for metric in canary["spec"]["analysis"]["metrics"]:
        metric["interval"] = metric_window
    return canary


@pytest.fixture
def operator(lab: Lab, namespace: str, prometheus_url: str, canary_crds: None,
             tmp_path: Path) -> Iterator[OperatorProcess]:
    """This module's operator also watches `prod`, the issue example's namespace."""
    process = OperatorProcess(lab, [namespace, "prod"], prometheus_url, tmp_path)
    process.start()
    yield process
    process.stop()


def serve_canary(cluster: Cluster, exporter: IstioExporter, prometheus_url: str,
                 **behaviour: float) -> None:
    """Give the canary's workload traffic and wait until Prometheus can rate it: the first
    check comes one short interval after the bump, before a fresh series has two scrapes."""
    exporter.set_behaviour(cluster.namespace, NAME, **behaviour)
    prom = PrometheusConnect(url=prometheus_url)
    query = builtin_query("request-success-rate", cluster.namespace, NAME, "10s")
    cluster.lab.wait_for(lambda: bool(prom.custom_query(query)),
                         "Prometheus to rate the canary's traffic", 60)


def _initialized(cluster: Cluster, exporter: IstioExporter, canary: dict[str, Any]) -> None:
    exporter.set_behaviour(cluster.namespace, f"{NAME}-primary", rps=20)
    cluster.create_target()
    cluster.apply_canary(canary)
    cluster.wait_phase("Initialized", timeout=60)


def test_the_issue_example_applies_unchanged_and_initializes(
    lab: Lab, api: client.ApiClient, operator: OperatorProcess
) -> None:
    core = client.CoreV1Api(api)
    try:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="prod")))
    except ApiException as error:
        if error.status != 409:
            raise
    prod = Cluster(lab, api, "prod")
    lab.wait_for(lambda: _has_default_sa(core, "prod"), "prod's default ServiceAccount")
    prod.create_target(replicas=3)
    prod.apply_canary(yaml.safe_load(ISSUE_EXAMPLE))
    prod.wait_phase("Initialized", timeout=60)

    primary = prod.deployment(f"{NAME}-primary")
    assert primary.status and primary.status.ready_replicas == 3
    assert primary.spec and primary.spec.selector.match_labels == {"app": f"{NAME}-primary"}
    lab.wait_for(lambda: (prod.deployment(NAME).spec.replicas or 0) == 0,  # type: ignore[union-attr]
                 "the target to be scaled to zero")
    selectors = {name: core.read_namespaced_service(name, "prod").spec.selector  # type: ignore[union-attr]
                 for name in (NAME, f"{NAME}-primary", f"{NAME}-canary")}
    assert selectors == {NAME: {"app": f"{NAME}-primary"},
                         f"{NAME}-primary": {"app": f"{NAME}-primary"},
                         f"{NAME}-canary": {"app": NAME}}
    for rule in (f"{NAME}-primary", f"{NAME}-canary"):
        dr = prod.custom.get_namespaced_custom_object(
            "networking.istio.io", "v1beta1", "prod", "destinationrules", rule)
        assert dr["spec"]["host"] == rule
    vs = prod.custom.get_namespaced_custom_object(
        "networking.istio.io", "v1beta1", "prod", "virtualservices", NAME)
    assert vs["spec"]["gateways"] == ["public-gateway.istio-system.svc.cluster.local"]
    assert set(vs["spec"]["hosts"]) == {"api.example.com", NAME}
    assert prod.weights() == (100, 0)
    prod.wait_event(f"Initialization done! {NAME}.prod")
    custom = prod.custom
    custom.delete_namespaced_custom_object("flagger.app", "v1beta1", "prod", "canaries", NAME)
    core.delete_namespace("prod")


def _has_default_sa(core: client.CoreV1Api, namespace: str) -> bool:
    try:
        core.read_namespaced_service_account("default", namespace)
    except ApiException:
        return False
    return True


def test_a_healthy_release_walks_the_steps_and_is_promoted(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess, prometheus_url: str
) -> None:
    _initialized(cluster, exporter, example(cluster.namespace))
    serve_canary(cluster, exporter, prometheus_url, rps=20, error_rate=0, latency_ms=40)
    sampler = WeightSampler(cluster.weights)
    cluster.set_image(GOOD)
    cluster.wait_phase("Succeeded", timeout=120)
    weights = sampler.stop()

    assert dedupe(weights) == [0, 10, 20, 30, 40, 50, 0]
    primary = cluster.deployment(f"{NAME}-primary")
    assert primary.spec and primary.spec.template.spec
    assert primary.spec.template.spec.containers[0].image == GOOD
    cluster.lab.wait_for(lambda: (cluster.deployment(NAME).spec.replicas or 0) == 0,  # type: ignore[union-attr]
                         "the canary to be scaled to zero")
    assert cluster.weights() == (100, 0)
    promoted = [c for c in cluster.canary()["status"]["conditions"] if c["type"] == "Promoted"]
    assert [c["status"] for c in promoted] == ["True"]


def test_a_low_success_rate_rolls_back_after_the_threshold(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess, prometheus_url: str
) -> None:
    _initialized(cluster, exporter, example(cluster.namespace, threshold=3))
    serve_canary(cluster, exporter, prometheus_url, rps=20, error_rate=0.2)
    cluster.set_image(BAD)
    cluster.wait_phase("Failed", timeout=120)

    status = cluster.canary()["status"]
    assert status["failedChecks"] == 3
    assert cluster.weights() == (100, 0)
    cluster.lab.wait_for(lambda: (cluster.deployment(NAME).spec.replicas or 0) == 0,  # type: ignore[union-attr]
                         "the canary to be scaled to zero")
    events = cluster.wait_event(f"Canary failed! Scaling down {NAME}.")
    assert any("success rate" in m and "< 99" in m for m in events), events
    assert any(m.startswith(f"Canary failed! Scaling down {NAME}.") for m in events), events


def test_a_slow_release_rolls_back(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess, prometheus_url: str
) -> None:
    _initialized(cluster, exporter, example(cluster.namespace, threshold=2))
    serve_canary(cluster, exporter, prometheus_url, rps=20, latency_ms=800)
    cluster.set_image(BAD)
    cluster.wait_phase("Failed", timeout=120)
    events = cluster.events()
    assert any("request duration" in m and "> 500" in m for m in events), events


def test_no_data_counts_as_a_failed_check_and_says_so(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess, prometheus_url: str
) -> None:
    _initialized(cluster, exporter, example(cluster.namespace, threshold=2))
    # No traffic for the canary's workload at all: the queries return nothing.
    cluster.set_image(BAD)
    cluster.wait_phase("Failed", timeout=120)
    events = cluster.events()
    no_data = [m for m in events if "NoData" in m]
    assert no_data, events
    assert any("istio_requests_total" in m for m in no_data), no_data


def test_a_new_image_mid_analysis_restarts_at_weight_zero(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess, prometheus_url: str
) -> None:
    _initialized(cluster, exporter, example(cluster.namespace, interval="2s"))
    serve_canary(cluster, exporter, prometheus_url, rps=20)
    cluster.set_image(GOOD)
    cluster.lab.wait_for(lambda: (cluster.weights() or (0, 0))[1] >= 20, "weight 20", 120)
    sampler = WeightSampler(cluster.weights)
    cluster.set_image("podinfo:6.9.3")
    cluster.wait_phase("Succeeded", timeout=120)
    weights = dedupe(sampler.stop())
    restart = weights.index(0)
    assert weights[restart:] == [0, 10, 20, 30, 40, 50, 0], weights
    assert any("Restarting analysis" in m for m in cluster.events())
    primary = cluster.deployment(f"{NAME}-primary")
    assert primary.spec and primary.spec.template.spec
    assert primary.spec.template.spec.containers[0].image == "podinfo:6.9.3"


def test_the_operator_restarted_mid_analysis_resumes_where_it_was(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess, prometheus_url: str
) -> None:
    _initialized(cluster, exporter, example(cluster.namespace, interval="2s"))
    serve_canary(cluster, exporter, prometheus_url, rps=20)
    sampler = WeightSampler(cluster.weights)
    cluster.set_image(GOOD)
    cluster.lab.wait_for(lambda: (cluster.weights() or (0, 0))[1] == 30, "weight 30", 120)
    operator.restart()
    cluster.wait_phase("Succeeded", timeout=120)
    assert dedupe(sampler.stop()) == [0, 10, 20, 30, 40, 50, 0]
    assert operator.starts == 2


def test_a_missing_target_is_reported_while_another_canary_progresses(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess, prometheus_url: str
) -> None:
    orphan = example(cluster.namespace)
    orphan["metadata"]["name"] = "orphan"
    orphan["spec"]["targetRef"]["name"] = "does-not-exist"
    cluster.apply_canary(orphan)
    _initialized(cluster, exporter, example(cluster.namespace))
    serve_canary(cluster, exporter, prometheus_url, rps=20)
    cluster.set_image(GOOD)
    cluster.wait_phase("Succeeded", timeout=120)

    def reported() -> bool:
        message = cluster.canary("orphan").get("status", {}).get("message", "")
        return "does-not-exist" in message and "not found" in message

    cluster.lab.wait_for(reported, "the orphan Canary's status to name its missing target", 30)
    assert any("does-not-exist" in m for m in cluster.events("orphan"))


def test_revert_on_deletion_gives_the_target_its_traffic_back(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess, prometheus_url: str
) -> None:
    # The user's own apex Service, as an app has before it adopts a Canary.
    cluster.core.create_namespaced_service(cluster.namespace, client.V1Service(
        metadata=client.V1ObjectMeta(name=NAME),
        spec=client.V1ServiceSpec(selector={"app": NAME},
                                  ports=[client.V1ServicePort(port=80, target_port=9898)])))
    canary = example(cluster.namespace)
    canary["spec"]["revertOnDeletion"] = True
    _initialized(cluster, exporter, canary)
    apex = cluster.core.read_namespaced_service(NAME, cluster.namespace)
    assert apex.spec and apex.spec.selector == {"app": f"{NAME}-primary"}

    cluster.custom.delete_namespaced_custom_object(
        "flagger.app", "v1beta1", cluster.namespace, "canaries", NAME)

    def gone() -> bool:
        try:
            cluster.canary()
        except ApiException as error:
            if error.status == 404:
                return True
            raise
        return False

    cluster.lab.wait_for(gone, "the Canary's finalizer to finish", 60)
    target = cluster.deployment(NAME)
    assert target.spec and target.spec.replicas == 2  # the primary's replicas
    assert target.status and target.status.ready_replicas == 2
    apex = cluster.core.read_namespaced_service(NAME, cluster.namespace)
    assert apex.spec and apex.spec.selector == {"app": NAME}
    events = cluster.events()
    assert any(m.startswith(f"Terminating canary {NAME}.") for m in events), events
    assert any(m.startswith(f"Terminated canary {NAME}.") for m in events), events


def test_fields_not_acted_on_yet_are_stored_and_named_once_in_an_event(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess, prometheus_url: str
) -> None:
    canary = example(cluster.namespace)
    canary["spec"]["service"]["portDiscovery"] = True
    canary["spec"]["service"]["headless"] = True
    _initialized(cluster, exporter, canary)
    stored = cluster.canary()["spec"]["service"]
    assert stored["portDiscovery"] is True and stored["headless"] is True
    notices = [m for m in cluster.events() if "not supported yet" in m]
    assert len(notices) == 1, notices
    assert "spec.service.portDiscovery" in notices[0] and "spec.service.headless" in notices[0]
