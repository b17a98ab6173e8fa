"""Webhooks, gates and alerts end to end: the operator as a process on the lab, hooks
and chat services played by a local HTTP server the test controls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.canary_cluster import Cluster
from tests.hook_server import HookServer
from tests.integration.test_operator_canary import (
    GOOD,
    NAME,
    _initialized,
    example,
    serve_canary,
)
from tests.istio_exporter import IstioExporter
from tests.operator_harness import OperatorProcess

PAYLOAD_KEYS = {"name", "namespace", "phase", "checksum", "metadata"}


@pytest.fixture
def hooks() -> Iterator[HookServer]:
    with HookServer() as server:
        yield server


def with_hooks(canary: dict[str, Any], hooks: HookServer, *kinds: str) -> dict[str, Any]:
    """The Canary with one webhook per type, each at `/<type>` of the test's server."""
    canary["spec"]["analysis"]["webhooks"] = [
        {"name": f"{kind}-hook", "type": kind, "url": hooks.url(f"/{kind}"), "timeout": "5s",
         "metadata": {"test": kind}}
        for kind in kinds
    ]
    return canary


def test_hooks_get_flaggers_payload_and_a_closed_rollout_gate_waits(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess,
    prometheus_url: str, hooks: HookServer,
) -> None:
    canary = with_hooks(example(cluster.namespace), hooks, "confirm-rollout", "pre-rollout",
                        "rollout", "confirm-promotion", "post-rollout", "event")
    hooks.answer("/confirm-rollout", 403)
    hooks.answer("/rollout", 204)  # Flagger refuses 204; any 2xx is a success here
    _initialized(cluster, exporter, canary)
    serve_canary(cluster, exporter, prometheus_url, rps=20, error_rate=0, latency_ms=40)
    cluster.set_image(GOOD)

    cluster.wait_phase("Waiting", timeout=60)
    assert cluster.deployment(NAME).spec.replicas == 0  # type: ignore[union-attr]
    assert not hooks.bodies("/pre-rollout")
    cluster.wait_event(f"Halt {NAME}.{cluster.namespace} advancement waiting for approval "
                       "confirm-rollout-hook")
    status = cluster.canary()["status"]
    assert status["reason"] == "WaitingForApproval"
    assert "HTTP 403" in status["message"]

    hooks.answer("/confirm-rollout", 200)
    cluster.wait_phase("Succeeded", timeout=120)

    pre = hooks.bodies("/pre-rollout")
    assert len(pre) == 1, pre
    assert set(pre[0]) == PAYLOAD_KEYS
    assert pre[0]["name"] == NAME and pre[0]["namespace"] == cluster.namespace
    assert pre[0]["phase"] == "Progressing"
    assert pre[0]["metadata"] == {"test": "pre-rollout"}
    assert pre[0]["checksum"]
    assert hooks.bodies("/rollout"), "rollout hooks run with every analysis step"
    assert hooks.bodies("/confirm-promotion")
    # Post-rollout hooks go out once Succeeded is written, not before.
    cluster.lab.wait_for(lambda: bool(hooks.bodies("/post-rollout")),
                         "the post-rollout hook to be called", 30)
    assert [body["phase"] for body in hooks.bodies("/post-rollout")] == ["Succeeded"]
    cluster.lab.wait_for(lambda: any(
        body["metadata"].get("eventMessage", "").startswith("Promotion completed!")
        for body in hooks.bodies("/event")), "the event hook to hear of the promotion", 30)
    event = next(body for body in hooks.bodies("/event")
                 if body["metadata"]["eventMessage"].startswith("New revision detected!"))
    assert event["metadata"]["eventType"] == "Normal"
    assert event["metadata"]["timestamp"].isdigit()
    cluster.lab.wait_for(lambda: any("Post-rollout check post-rollout-hook passed" in m
                                     for m in cluster.events()),
                         "the post-rollout hook's event", 30)


def test_a_closed_promotion_gate_holds_at_max_weight_until_it_opens(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess,
    prometheus_url: str, hooks: HookServer,
) -> None:
    canary = with_hooks(example(cluster.namespace), hooks, "confirm-promotion")
    hooks.answer("/confirm-promotion", 403)
    _initialized(cluster, exporter, canary)
    serve_canary(cluster, exporter, prometheus_url, rps=20, error_rate=0, latency_ms=40)
    cluster.set_image(GOOD)

    cluster.wait_phase("WaitingPromotion", timeout=120)
    assert cluster.weights() == (50, 50)
    status = cluster.canary()["status"]
    assert status["canaryWeight"] == 50
    assert status["failedChecks"] == 0
    asked = len(hooks.bodies("/confirm-promotion"))
    cluster.lab.wait_for(lambda: len(hooks.bodies("/confirm-promotion")) > asked,
                         "the gate to be asked again", 30)
    assert cluster.phase() == "WaitingPromotion"

    hooks.answer("/confirm-promotion", 200)
    cluster.wait_phase("Succeeded", timeout=60)
    assert cluster.weights() == (100, 0)


def test_a_closed_traffic_gate_waits_before_the_first_step_and_runs_pre_rollout_once(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess,
    prometheus_url: str, hooks: HookServer,
) -> None:
    canary = with_hooks(example(cluster.namespace), hooks, "confirm-traffic-increase",
                        "pre-rollout")
    hooks.answer("/confirm-traffic-increase", 403)
    _initialized(cluster, exporter, canary)
    serve_canary(cluster, exporter, prometheus_url, rps=20, error_rate=0, latency_ms=40)
    cluster.set_image(GOOD)

    cluster.wait_phase("WaitingTrafficIncrease", timeout=60)
    asked = len(hooks.bodies("/confirm-traffic-increase"))
    cluster.lab.wait_for(lambda: len(hooks.bodies("/confirm-traffic-increase")) > asked + 1,
                         "the gate to be asked on later intervals", 30)
    assert cluster.weights() == (100, 0)
    assert not hooks.bodies("/pre-rollout"), "pre-rollout waits for the traffic gate"
    assert any("waiting for traffic increase approval confirm-traffic-increase-hook" in m
               for m in cluster.events())

    hooks.answer("/confirm-traffic-increase", 200)
    cluster.wait_phase("Succeeded", timeout=120)
    assert len(hooks.bodies("/pre-rollout")) == 1


def test_a_rollback_hook_rolls_back_and_alerts_carry_the_failing_numbers(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess,
    prometheus_url: str, hooks: HookServer,
) -> None:
    provider = {
        "apiVersion": "flagger.app/v1beta1", "kind": "AlertProvider",
        "metadata": {"name": "on-call", "namespace": cluster.namespace},
        "spec": {"type": "webhook", "address": hooks.url("/alerts")},
    }
    cluster.custom.create_namespaced_custom_object(
        "flagger.app", "v1beta1", cluster.namespace, "alertproviders", provider)
    canary = with_hooks(example(cluster.namespace, threshold=10), hooks, "rollback")
    canary["spec"]["analysis"]["alerts"] = [
        {"name": "warnings", "severity": "warn", "providerRef": {"name": "on-call"}}]
    hooks.answer("/rollback", 404)
    _initialized(cluster, exporter, canary)
    serve_canary(cluster, exporter, prometheus_url, rps=20, error_rate=0.3, latency_ms=40)
    cluster.set_image(GOOD)
    cluster.lab.wait_for(lambda: cluster.canary()["status"].get("failedChecks", 0) >= 1,
                         "a failed check", 60)

    hooks.answer("/rollback", 200)
    cluster.wait_phase("Failed", timeout=60)
    assert cluster.canary()["status"]["reason"] == "ManualRollback"
    cluster.wait_event(f"Rolling back {NAME}.{cluster.namespace} manual webhook invoked")
    cluster.lab.wait_for(lambda: bool(hooks.bodies("/alerts")), "the alert", 30)
    alerts = hooks.bodies("/alerts")
    # Flagger sends the manual rollback as a warning; info alerts (initialized, new
    # revision) are not routed to a `warn` alert.
    assert [alert["severity"] for alert in alerts] == ["warn"], alerts
    alert = alerts[0]
    assert alert["text"] == "Rolling back manual webhook invoked"
    assert alert["canary"] == NAME and alert["namespace"] == cluster.namespace
    assert alert["fields"]["Target"] == f"Deployment/{NAME}.{cluster.namespace}"
    failing = alert["fields"]["request-success-rate"]
    assert failing.startswith("Fail: ") and "99" in failing, failing
