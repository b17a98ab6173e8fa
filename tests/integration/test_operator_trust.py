"""The shell keeps its word, on the lab (the real API server, real Prometheus, the operator
as a process): a misconfigured metric is a failed check, an edit of the status is
honoured, a field the decision clears leaves the API and stays gone after a restart,
and an image bump during the promotion tick is analysed before it is promoted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from canary_operator.lab.workloads import deployment
from tests.canary_cluster import Cluster, Sampler, WeightSampler, dedupe
from tests.hook_server import HookServer
from tests.integration.test_operator_canary import (
    BAD,
    GOOD,
    NAME,
    _initialized,
    example,
    serve_canary,
)
from tests.istio_exporter import IstioExporter
from tests.operator_harness import OperatorProcess

NEWER = "podinfo:6.9.3"


@pytest.fixture
def hooks() -> Iterator[HookServer]:
    with HookServer() as server:
        yield server


def failed_checks(cluster: Cluster) -> int | None:
    value = (cluster.canary().get("status") or {}).get("failedChecks")
    return int(value) if value is not None else None


def test_a_missing_template_and_a_rejected_query_fail_the_release_at_the_threshold(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess, prometheus_url: str
) -> None:
    canary = example(cluster.namespace, threshold=2)
    canary["spec"]["analysis"]["metrics"] += [
        {"name": "latency", "templateRef": {"name": "missing"}, "interval": "10s",
         "thresholdRange": {"max": 500}},
        {"name": "errors", "query": "sum(rate(istio_requests_total[1m])", "interval": "10s",
         "thresholdRange": {"max": 1}},
    ]
    _initialized(cluster, exporter, canary)
    serve_canary(cluster, exporter, prometheus_url, rps=20, error_rate=0, latency_ms=40)
    cluster.set_image(BAD)
    cluster.wait_phase("Failed", timeout=90)

    status = cluster.canary()["status"]
    assert (status["failedChecks"], status["reason"]) == (2, "FailedChecksThreshold")
    assert [(c["name"], c["outcome"]) for c in status["checks"]] == [
        ("request-success-rate", "Pass"), ("request-duration", "Pass"),
        ("latency", "Invalid"), ("errors", "Invalid")]
    assert cluster.weights() == (100, 0)
    events = cluster.events()
    ns = cluster.namespace
    assert (f"Halt {NAME}.{ns} advancement latency cannot be checked: Canary {ns}/{NAME}: "
            f"metric 'latency': MetricTemplate {ns}/missing named by templateRef was not "
            "found; create it or fix analysis.metrics[].templateRef (counted as a failed "
            "check)") in events, events
    rejected = [m for m in events if "advancement errors cannot be checked" in m]
    assert rejected, events
    for message in rejected:
        assert "answered HTTP 400: bad_data" in message
        assert message.endswith("fix the query (analysis.metrics[].query or the "
                                "MetricTemplate's spec.query) (counted as a failed check)")


def test_a_failed_checks_reset_by_hand_is_honoured(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess, prometheus_url: str
) -> None:
    _initialized(cluster, exporter, example(cluster.namespace, interval="2s", threshold=5))
    serve_canary(cluster, exporter, prometheus_url, rps=20, error_rate=0.5)
    cluster.set_image(BAD)
    cluster.lab.wait_for(lambda: failed_checks(cluster) == 2, "two failed checks", 60)
    cluster.custom.patch_namespaced_custom_object_status(
        "flagger.app", "v1beta1", cluster.namespace, "canaries", NAME,
        {"status": {"failedChecks": 0}})
    counts = Sampler(lambda: failed_checks(cluster))
    cluster.wait_phase("Failed", timeout=90)
    seen = dedupe([c for c in counts.stop() if c is not None])
    # Counted again from the edit (the operator may write 1 before the first sample).
    assert seen in ([0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5]), seen
    assert failed_checks(cluster) == 5


def test_a_config_map_dropped_from_the_template_leaves_the_status_across_a_restart(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess, prometheus_url: str
) -> None:
    cluster.core.create_namespaced_config_map(cluster.namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="settings"), data={"greeting": "hello"}))
    target = deployment(NAME, "podinfo:6.9.0", replicas=2)
    pod = target["spec"]["template"]["spec"]
    pod["volumes"] = [{"name": "settings", "configMap": {"name": "settings"}}]
    pod["containers"][0]["volumeMounts"] = [{"name": "settings", "mountPath": "/etc/app"}]
    exporter.set_behaviour(cluster.namespace, f"{NAME}-primary", rps=20)
    cluster.create_target(body=target)
    cluster.apply_canary(example(cluster.namespace))
    cluster.wait_phase("Initialized", timeout=60)
    assert list(cluster.canary()["status"]["trackedConfigs"]) == ["configmap/settings"]

    serve_canary(cluster, exporter, prometheus_url, rps=20)
    # The release drops the volume: nothing is tracked any more.
    cluster.apps.patch_namespaced_deployment(NAME, cluster.namespace, [
        {"op": "remove", "path": "/spec/template/spec/volumes"},
        {"op": "remove", "path": "/spec/template/spec/containers/0/volumeMounts"},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": GOOD}])
    cluster.lab.wait_for(lambda: cluster.phase() == "Progressing", "the analysis", 60)
    cluster.wait_phase("Succeeded", timeout=120)
    assert cluster.canary()["status"]["trackedConfigs"] == {}

    operator.restart()
    cluster.set_image(NEWER)
    cluster.lab.wait_for(lambda: cluster.phase() == "Progressing", "the next analysis", 60)
    cluster.wait_phase("Succeeded", timeout=120)
    status = cluster.canary()["status"]
    assert status["trackedConfigs"] == {}
    assert status["lastAppliedSpec"] == status["lastPromotedSpec"]
    primary = cluster.deployment(f"{NAME}-primary")
    assert primary.spec and primary.spec.template.spec
    assert primary.spec.template.spec.containers[0].image == NEWER


def test_an_image_bump_during_the_promotion_tick_is_analysed_before_it_is_promoted(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess, prometheus_url: str,
    hooks: HookServer,
) -> None:
    canary: dict[str, Any] = example(cluster.namespace)
    canary["spec"]["analysis"]["webhooks"] = [
        {"name": "gate", "type": "confirm-promotion", "url": hooks.url("/gate")}]
    _initialized(cluster, exporter, canary)
    serve_canary(cluster, exporter, prometheus_url, rps=20)
    # The gate is asked in the tick that decides to promote: the new image lands then.
    hooks.on_next_call("/gate", lambda: cluster.set_image(NEWER))

    def primary_image() -> str:
        primary = cluster.deployment(f"{NAME}-primary")
        assert primary.spec and primary.spec.template.spec
        return str(primary.spec.template.spec.containers[0].image)

    images = Sampler(primary_image)
    weights = WeightSampler(cluster.weights)
    cluster.set_image(GOOD)
    cluster.lab.wait_for(lambda: len(hooks.bodies("/gate")) >= 1, "the promotion gate", 90)
    cluster.lab.wait_for(lambda: primary_image() == NEWER, f"{NEWER} to be promoted", 120)
    cluster.wait_phase("Succeeded", timeout=60)
    walk = dedupe(weights.stop())
    promoted = images.stop()
    # Whichever revision the promotion saw (the analysed one, or the newer one it then
    # refused), the newer image had a whole analysis of its own before it reached the
    # primary: two walks to maxWeight, and the primary never ran anything unanalysed.
    assert walk.count(50) == 2, walk
    assert walk[-7:] == [0, 10, 20, 30, 40, 50, 0], walk
    assert promoted in (["podinfo:6.9.0", NEWER], ["podinfo:6.9.0", GOOD, NEWER]), promoted


def test_the_virtual_service_follows_the_spec_and_hand_edited_weights_are_put_back(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess, prometheus_url: str
) -> None:
    canary = example(cluster.namespace, interval="2s")
    _initialized(cluster, exporter, canary)

    def virtual_service() -> dict[str, Any]:
        body: dict[str, Any] = cluster.custom.get_namespaced_custom_object(
            "networking.istio.io", "v1beta1", cluster.namespace, "virtualservices", NAME)
        return body

    # A change of spec.service after initialisation shows within an interval.
    cluster.custom.patch_namespaced_custom_object(
        "flagger.app", "v1beta1", cluster.namespace, "canaries", NAME,
        {"spec": {"service": {"hosts": ["app.example.com"], "timeout": "5s"}}})
    cluster.lab.wait_for(lambda: virtual_service()["spec"]["hosts"] == ["app.example.com", NAME],
                         "the new hosts on the VirtualService", 30)
    assert virtual_service()["spec"]["http"][0]["timeout"] == "5s"
    assert cluster.weights() == (100, 0)

    # Someone moves half the traffic to the idle canary by hand: it goes back.
    vs = virtual_service()
    route = vs["spec"]["http"][0]["route"]
    for destination in route:
        destination["weight"] = 50
    cluster.custom.patch_namespaced_custom_object(
        "networking.istio.io", "v1beta1", cluster.namespace, "virtualservices", NAME,
        [{"op": "replace", "path": "/spec/http/0/route", "value": route}],
        _content_type="application/json-patch+json")
    assert cluster.weights() == (50, 50)
    cluster.lab.wait_for(lambda: cluster.weights() == (100, 0), "the weights put back", 30)
    status = cluster.canary()["status"]
    assert (status["phase"], status["reason"]) == ("Initialized", "RoutesRepaired")
    cluster.wait_event("were 50/50 while nothing runs: back to 100/0")
