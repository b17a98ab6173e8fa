"""Decision.alerts: Flagger's alert texts and severities (flagger.md §4.2; Flagger's
scheduler sends the waiting and manual-rollback alerts as warn, the failures as error).
A waiting alert goes out when the phase is entered, not on every tick it is asked again,
and not at all when every refusing hook has `muteAlert`."""

from __future__ import annotations

from typing import Any

import pytest

from canary_operator.analysis import HookResult, Readiness, decide
from canary_operator.api import CanarySpec, Phase
from canary_operator.api.canary import WebhookType
from tests.unit.test_analysis_helpers import (
    STUCK,
    Cluster,
    alerts,
    everyone_ok,
    hook,
    in_phase,
    initialized,
    make_spec,
    measured,
    observe,
    refusing,
    status_in,
)


def started(spec: CanarySpec, **fields: Any) -> Cluster:
    cluster = initialized(Cluster(spec, **fields))
    cluster.target_hash = "v2"
    return cluster


def test_initialization_alerts_that_the_deployment_was_detected() -> None:
    cluster = Cluster(make_spec())
    run = cluster.run_until(in_phase(Phase.INITIALIZED))
    assert alerts(run) == [("info", "New Deployment detected, initialization completed.")]
    assert alerts(run[-1:]) == alerts(run)


def test_a_new_revision_alerts_once_and_ordinary_steps_say_nothing() -> None:
    cluster = started(make_spec())
    run = cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert alerts(run) == [
        ("info", "New revision detected, progressing canary analysis."),
        ("info", "Canary analysis completed successfully, promotion finished."),
    ]
    assert run[0].alerts and run[-1].alerts
    assert not any(d.alerts for d in run[1:-1])


def test_a_threshold_rollback_alerts_an_error() -> None:
    cluster = started(make_spec(threshold=2), metrics=lambda _: measured(success_rate=20.0))
    run = cluster.run_until(in_phase(Phase.FAILED))
    assert alerts(run[-1:]) == [("error", "Failed checks threshold reached 2")]
    assert [a for a in alerts(run) if a[0] != "info"] == alerts(run[-1:])


def test_a_canary_past_its_deadline_alerts_an_error() -> None:
    spec = make_spec()
    seen = observe(target_hash="v2", target_replicas=2, weights=(90, 10), canary=STUCK)
    decision = decide(spec, status_in(Phase.PROGRESSING, weight=10), seen)
    assert decision.status.phase is Phase.FAILED
    assert [(a.severity, a.message) for a in decision.alerts] == [
        ("error", f"Progress deadline exceeded canary deployment podinfo.test not ready: "
                  f"{STUCK.message}")]


def test_a_skipped_analysis_past_its_deadline_also_alerts() -> None:
    spec = make_spec(skipAnalysis=True)
    seen = observe(target_hash="v2", target_replicas=2, canary=STUCK)
    decision = decide(spec, status_in(Phase.PROGRESSING), seen)
    assert decision.status.reason == "ProgressDeadlineExceeded"
    assert [(a.severity, a.message) for a in decision.alerts] == [
        ("error", f"Progress deadline exceeded canary deployment podinfo.test not ready: "
                  f"{STUCK.message}")]


def test_a_manual_rollback_alerts_a_warning() -> None:
    spec = make_spec(webhooks=[hook("abort", "rollback")])
    seen = observe(target_hash="v2", target_replicas=2, weights=(80, 20),
                   hooks={WebhookType.ROLLBACK: (HookResult("abort", True),)})
    decision = decide(spec, status_in(Phase.PROGRESSING, weight=20), seen)
    assert [(a.severity, a.message) for a in decision.alerts] == [
        ("warn", "Rolling back manual webhook invoked")]


def test_a_skipped_analysis_alerts_that_promotion_finished() -> None:
    cluster = started(make_spec(skipAnalysis=True))
    run = cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert alerts(run) == [
        ("info", "New revision detected, progressing canary analysis."),
        ("info", "Canary analysis was skipped, promotion finished."),
    ]


@pytest.mark.parametrize("canary", [Readiness(True), STUCK])
def test_a_failed_promotion_alerts_an_error(canary: Readiness) -> None:
    primary = Readiness(False, False, "deployment \"podinfo-primary\" exceeded its progress "
                                      "deadline")
    seen = observe(target_hash="v2", target_replicas=2, weights=(50, 50), canary=canary,
                   primary=primary)
    decision = decide(make_spec(), status_in(Phase.PROMOTING, weight=50), seen)
    assert decision.status.phase is Phase.FAILED
    assert [(a.severity, a.message) for a in decision.alerts] == [
        ("error", f"Promotion failed, primary not ready: {primary.message}")]


# -- waiting alerts: once, on entering, unless muted --------------------------------------


GATES = {
    WebhookType.CONFIRM_ROLLOUT: (Phase.WAITING, "Canary is waiting for approval."),
    WebhookType.CONFIRM_TRAFFIC_INCREASE: (
        Phase.WAITING_TRAFFIC_INCREASE, "Canary traffic increase is waiting for approval."),
    WebhookType.CONFIRM_PROMOTION: (
        Phase.WAITING_PROMOTION, "Canary promotion is waiting for approval."),
}


@pytest.mark.parametrize("kind", GATES)
def test_a_closed_gate_alerts_once_while_it_stays_closed(kind: WebhookType) -> None:
    phase, text = GATES[kind]
    cluster = started(make_spec(webhooks=[hook("gate", kind.value)]), hooks=refusing(kind))
    cluster.run_until(in_phase(phase))
    waiting = [cluster.tick() for _ in range(4)]
    assert all(d.status.phase is phase for d in waiting)
    assert alerts(cluster.decisions[-5:]) == [("warn", text)]
    assert cluster.decisions[-5].alerts != ()
    cluster.hooks = everyone_ok
    cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert alerts(cluster.decisions).count(("warn", text)) == 1


@pytest.mark.parametrize("kind", GATES)
def test_mute_alert_silences_a_waiting_gate(kind: WebhookType) -> None:
    phase, text = GATES[kind]
    spec = make_spec(webhooks=[hook("gate", kind.value, muteAlert=True)])
    cluster = started(spec, hooks=refusing(kind))
    cluster.run_until(in_phase(phase))
    for _ in range(3):
        cluster.tick()
    assert cluster.phase is phase
    assert ("warn", text) not in alerts(cluster.decisions)
    # Muted means no alert, not no event.
    assert any("Halt podinfo.test advancement waiting for" in e.message
               for d in cluster.decisions[-3:] for e in d.events)


def test_a_refusing_hook_without_mute_alert_still_alerts_beside_a_muted_one() -> None:
    spec = make_spec(webhooks=[hook("quiet", "confirm-rollout", muteAlert=True),
                               hook("loud", "confirm-rollout")])
    decision = decide(spec, status_in(Phase.SUCCEEDED, applied="v1"), observe(
        target_hash="v2", hooks={WebhookType.CONFIRM_ROLLOUT: (
            HookResult("quiet", False, "no"), HookResult("loud", False, "no"))}))
    assert [(a.severity, a.message) for a in decision.alerts] == [
        ("warn", "Canary is waiting for approval.")]


def test_a_muted_hook_that_agrees_does_not_mute_one_that_refuses() -> None:
    spec = make_spec(webhooks=[hook("quiet", "confirm-rollout", muteAlert=True),
                               hook("loud", "confirm-rollout")])
    decision = decide(spec, status_in(Phase.SUCCEEDED, applied="v1"), observe(
        target_hash="v2", hooks={WebhookType.CONFIRM_ROLLOUT: (
            HookResult("quiet", True), HookResult("loud", False, "no"))}))
    assert len(decision.alerts) == 1


def test_a_gate_that_closes_again_later_alerts_again() -> None:
    spec = make_spec(webhooks=[hook("traffic", "confirm-traffic-increase")])
    cluster = started(spec)
    cluster.run_until(lambda c: c.state.canary_weight == 20)
    cluster.hooks = refusing(WebhookType.CONFIRM_TRAFFIC_INCREASE)
    cluster.tick()
    cluster.tick()
    cluster.hooks = everyone_ok
    cluster.tick()
    cluster.hooks = refusing(WebhookType.CONFIRM_TRAFFIC_INCREASE)
    cluster.tick()
    cluster.tick()
    assert alerts(cluster.decisions).count(
        ("warn", "Canary traffic increase is waiting for approval.")) == 2


def test_deciding_again_after_a_restart_in_a_waiting_phase_sends_no_second_alert() -> None:
    spec = make_spec(webhooks=[hook("approve", "confirm-rollout")])
    seen = observe(target_hash="v2", hooks={
        WebhookType.CONFIRM_ROLLOUT: (HookResult("approve", False, "closed"),)})
    first = decide(spec, status_in(Phase.SUCCEEDED, applied="v1"), seen)
    again = decide(spec, first.status, seen)
    assert first.alerts and not again.alerts
    assert again.status == first.status
