"""Webhook gates and hooks (flagger.md §1.3, §2.2 steps 15, 19, 23, 25; §8): which hooks a
tick asks the controller to call, with which payload phase, and what their answers do.

A confirm-* gate that refuses holds in a waiting phase and is asked again each interval,
never counting a failed check; pre-rollout and rollout hooks that refuse count one; a
rollback hook that answers 2xx rolls back; post-rollout hooks are fire-and-forget actions.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest

from canary_operator.analysis import (
    HookCall,
    HookResult,
    Observation,
    Readiness,
    RunHooks,
    SetWeights,
    decide,
    needs_metrics,
    pending_hooks,
)
from canary_operator.analysis.schedule import READINESS_POLL_SECONDS
from canary_operator.api import CanarySpec, CanaryStatus, Phase
from canary_operator.api.canary import WebhookType
from tests.unit.test_analysis_helpers import (
    READY,
    ROLLING,
    Cluster,
    Hooks,
    everyone_ok,
    hook,
    hook_names,
    in_phase,
    initialized,
    make_spec,
    measured,
    messages,
    observe,
    refusing,
    status_in,
)

CLOSED = "HTTP 403 Forbidden: closed"


def with_hooks(*webhooks: dict[str, Any], **analysis: Any) -> CanarySpec:
    return make_spec(webhooks=list(webhooks), **analysis)


def new_revision(cluster: Cluster) -> Cluster:
    """`cluster` after initialisation, with revision v2 applied to the target."""
    initialized(cluster)
    cluster.target_hash = "v2"
    return cluster


def ticks(cluster: Cluster, count: int) -> None:
    for _ in range(count):
        cluster.tick()


def at(weight: int, **fields: Any) -> Observation:
    return observe(**{"target_hash": "v2", "target_replicas": 2,
                      "weights": (100 - weight, weight), **fields})


# -- confirm-rollout: Waiting ------------------------------------------------------------


def test_a_refused_confirm_rollout_waits_without_scaling_the_target_up() -> None:
    cluster = new_revision(Cluster(with_hooks(hook("approve", "confirm-rollout")),
                                   hooks=refusing(WebhookType.CONFIRM_ROLLOUT)))
    decision = cluster.tick()
    assert cluster.hook_calls[-1] == [HookCall(WebhookType.CONFIRM_ROLLOUT, Phase.INITIALIZED)]
    assert cluster.phase is Phase.WAITING
    status = cluster.state
    assert status.reason == "WaitingForApproval"
    assert status.message == (f"new revision of podinfo.test waits for approval: "
                              f"approve ({CLOSED})")
    assert [(e.type, e.message) for e in decision.events] == [
        ("Warning", "Halt podinfo.test advancement waiting for approval approve")]
    assert status.conditions is not None
    assert (status.conditions[0].status, status.conditions[0].message) == (
        "Unknown", "Waiting for approval.")
    assert decision.actions == ()
    assert cluster.target_replicas == 0
    assert status.failed_checks == 0
    # Still the old revision's: the new one starts only once approved.
    assert status.last_applied_spec == "v1"


def test_a_waiting_rollout_asks_again_each_interval_and_counts_nothing() -> None:
    cluster = new_revision(Cluster(with_hooks(hook("approve", "confirm-rollout")),
                                   hooks=refusing(WebhookType.CONFIRM_ROLLOUT)))
    cluster.tick()
    times = []
    for _ in range(4):
        times.append(cluster.now)
        decision = cluster.tick()
        assert cluster.hook_calls[-1] == [HookCall(WebhookType.CONFIRM_ROLLOUT, Phase.WAITING)]
        assert cluster.phase is Phase.WAITING
        assert decision.status.failed_checks == 0
        assert messages([decision]) == [
            "Halt podinfo.test advancement waiting for approval approve"]
    assert {later - earlier for earlier, later in pairwise(times)} == {timedelta(minutes=1)}
    assert cluster.target_replicas == 0


def test_an_approved_rollout_scales_up_and_progresses() -> None:
    cluster = new_revision(Cluster(with_hooks(hook("approve", "confirm-rollout")),
                                   hooks=refusing(WebhookType.CONFIRM_ROLLOUT)))
    ticks(cluster, 3)
    cluster.hooks = everyone_ok
    decision = cluster.tick()
    assert cluster.phase is Phase.PROGRESSING
    assert decision.status.reason == "NewRevision"
    assert messages([decision]) == ["Confirm-rollout check approve passed",
                                    "New revision detected! Scaling up podinfo.test"]
    assert cluster.target_replicas == 2
    assert decision.status.last_applied_spec == "v2"
    # Approved once per revision: the rest of the analysis does not ask again.
    cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert len(cluster.calls_of(WebhookType.CONFIRM_ROLLOUT)) == 4  # 3 refusals, 1 approval
    assert cluster.primary_hash == "v2"


def test_a_revision_during_the_analysis_restarts_without_asking_for_approval_again() -> None:
    cluster = new_revision(Cluster(with_hooks(hook("approve", "confirm-rollout"))))
    cluster.run_until(lambda c: c.state.canary_weight == 20)
    cluster.target_hash = "v3"
    decision = cluster.tick()
    assert decision.status.reason == "AnalysisRestarted"
    assert cluster.hook_calls[-1] == []


# -- confirm-traffic-increase: WaitingTrafficIncrease ---------------------------------------


TRAFFIC_SPEC = with_hooks(hook("traffic", "confirm-traffic-increase"),
                          hook("migrate", "pre-rollout"))


def test_a_closed_traffic_gate_holds_the_first_step_before_the_pre_rollout_hooks() -> None:
    cluster = new_revision(Cluster(TRAFFIC_SPEC,
                                   hooks=refusing(WebhookType.CONFIRM_TRAFFIC_INCREASE)))
    cluster.tick()  # NewRevision
    decision = cluster.tick()
    assert cluster.hook_calls[-1] == [
        HookCall(WebhookType.CONFIRM_TRAFFIC_INCREASE, Phase.PROGRESSING)]
    assert cluster.phase is Phase.WAITING_TRAFFIC_INCREASE
    assert decision.status.reason == "WaitingForTrafficIncrease"
    assert decision.status.message == (
        f"starting the analysis; waiting for traffic increase approval: "
        f"webhook traffic refused ({CLOSED})")
    assert [(e.type, e.message) for e in decision.events] == [
        ("Warning", "Halt podinfo.test advancement waiting for traffic increase approval "
                    "traffic")]
    assert decision.status.conditions is not None
    assert decision.status.conditions[0].message == "Waiting for approval."
    assert decision.actions == ()
    assert cluster.weights == (100, 0)
    assert decision.status.failed_checks == 0


def test_pre_rollout_runs_once_when_the_traffic_gate_opens_fluxcd_flagger_1248() -> None:
    cluster = new_revision(Cluster(TRAFFIC_SPEC,
                                   hooks=refusing(WebhookType.CONFIRM_TRAFFIC_INCREASE)))
    cluster.tick()
    for _ in range(5):
        decision = cluster.tick()
        assert cluster.hook_calls[-1] == [
            HookCall(WebhookType.CONFIRM_TRAFFIC_INCREASE, Phase.PROGRESSING)]
        assert decision.status.failed_checks == 0
        assert cluster.phase is Phase.WAITING_TRAFFIC_INCREASE
    assert cluster.calls_of(WebhookType.PRE_ROLLOUT) == []
    assert not any(cluster.queried)

    cluster.hooks = everyone_ok
    decision = cluster.tick()
    assert cluster.hook_calls[-1] == [
        HookCall(WebhookType.CONFIRM_TRAFFIC_INCREASE, Phase.PROGRESSING),
        HookCall(WebhookType.PRE_ROLLOUT, Phase.PROGRESSING)]
    assert cluster.phase is Phase.PROGRESSING
    assert messages([decision]) == ["Starting canary analysis for podinfo.test",
                                    "Pre-rollout check migrate passed",
                                    "Advance podinfo.test canary weight 10"]
    assert cluster.weights == (90, 10)
    cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert len(cluster.calls_of(WebhookType.PRE_ROLLOUT)) == 1


def test_the_traffic_gate_is_asked_before_each_increase_after_the_checks() -> None:
    cluster = new_revision(Cluster(TRAFFIC_SPEC))
    cluster.run_until(lambda c: c.state.canary_weight == 20)
    cluster.hooks = refusing(WebhookType.CONFIRM_TRAFFIC_INCREASE)
    for _ in range(3):
        decision = cluster.tick()
        # The checks run each interval while the gate is closed, then the gate is asked.
        assert cluster.queried[-1]
        assert cluster.hook_calls[-1] == [
            HookCall(WebhookType.CONFIRM_TRAFFIC_INCREASE, Phase.PROGRESSING)]
        assert cluster.phase is Phase.WAITING_TRAFFIC_INCREASE
        assert decision.status.canary_weight == 20
        assert decision.status.failed_checks == 0
    assert cluster.weights == (80, 20)
    cluster.hooks = everyone_ok
    decision = cluster.tick()
    assert cluster.phase is Phase.PROGRESSING
    assert decision.status.reason == "Advanced"
    assert cluster.weights == (70, 30)
    cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert cluster.calls_of(WebhookType.PRE_ROLLOUT) == [
        HookCall(WebhookType.PRE_ROLLOUT, Phase.PROGRESSING)]


def test_failed_checks_while_the_traffic_gate_is_closed_still_count() -> None:
    cluster = new_revision(Cluster(TRAFFIC_SPEC))
    cluster.run_until(lambda c: c.state.canary_weight == 20)
    cluster.hooks = refusing(WebhookType.CONFIRM_TRAFFIC_INCREASE)
    cluster.tick()
    cluster.metrics = lambda _: measured(success_rate=90.0)
    decision = cluster.tick()
    assert decision.status.failed_checks == 1
    # A failing check ends the tick before the gate.
    assert cluster.calls_of(WebhookType.CONFIRM_TRAFFIC_INCREASE, decisions=1) == []
    cluster.run_until(in_phase(Phase.FAILED))
    assert cluster.weights == (100, 0)


def test_a_pre_rollout_failure_after_the_traffic_gate_opened_is_progressing_again() -> None:
    cluster = new_revision(Cluster(TRAFFIC_SPEC,
                                   hooks=refusing(WebhookType.CONFIRM_TRAFFIC_INCREASE)))
    ticks(cluster, 2)
    assert cluster.phase is Phase.WAITING_TRAFFIC_INCREASE
    cluster.hooks = refusing(WebhookType.PRE_ROLLOUT, message="HTTP 500: migration failed")
    decision = cluster.tick()
    assert decision.status.phase is Phase.PROGRESSING
    assert decision.status.reason == "PreRolloutFailed"
    assert decision.status.failed_checks == 1


# -- confirm-promotion: WaitingPromotion ----------------------------------------------------


def test_a_closed_promotion_gate_waits_at_max_weight_and_keeps_checking() -> None:
    cluster = new_revision(Cluster(with_hooks(hook("promote", "confirm-promotion")),
                                   hooks=refusing(WebhookType.CONFIRM_PROMOTION)))
    cluster.run_until(in_phase(Phase.WAITING_PROMOTION))
    status = cluster.state
    assert cluster.hook_calls[-1] == [
        HookCall(WebhookType.CONFIRM_PROMOTION, Phase.PROGRESSING)]
    assert status.reason == "WaitingForPromotion"
    assert status.message is not None
    assert status.message.endswith(f"waiting for promotion approval: promote ({CLOSED})")
    assert messages(cluster.decisions[-1:]) == [
        "Halt podinfo.test advancement waiting for promotion approval promote"]
    assert status.canary_weight == 50
    assert cluster.weights == (50, 50)
    for _ in range(3):
        decision = cluster.tick()
        assert cluster.queried[-1]
        assert cluster.hook_calls[-1] == [
            HookCall(WebhookType.CONFIRM_PROMOTION, Phase.PROGRESSING)]
        assert decision.status.phase is Phase.WAITING_PROMOTION
        assert decision.status.failed_checks == 0
        assert decision.status.canary_weight == 50
        assert decision.actions == ()
    cluster.hooks = everyone_ok
    decision = cluster.tick()
    assert decision.status.phase is Phase.PROMOTING
    assert messages([decision]) == [
        "Confirm-promotion check promote passed",
        "Copying podinfo.test template spec to podinfo-primary.test"]
    cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert cluster.primary_hash == "v2"


def test_failed_checks_while_waiting_for_promotion_roll_back() -> None:
    cluster = new_revision(Cluster(with_hooks(hook("promote", "confirm-promotion"),
                                              threshold=2),
                                   hooks=refusing(WebhookType.CONFIRM_PROMOTION)))
    cluster.run_until(in_phase(Phase.WAITING_PROMOTION))
    cluster.metrics = lambda _: measured(duration=900.0)
    run = cluster.run_until(in_phase(Phase.FAILED))
    assert [d.status.failed_checks for d in run] == [1, 2, 2]
    assert run[-1].status.reason == "FailedChecksThreshold"


# -- pre-rollout and rollout hooks: failed checks ------------------------------------------


def test_a_refused_pre_rollout_hook_counts_a_failed_check_and_skips_the_rollout_hooks() -> None:
    spec = with_hooks(hook("migrate", "pre-rollout"), hook("load-test"), threshold=2)
    cluster = new_revision(Cluster(spec, hooks=refusing(
        WebhookType.PRE_ROLLOUT, message="HTTP 500 Internal Server Error: no db")))
    cluster.tick()
    decision = cluster.tick()
    assert cluster.hook_calls[-1] == [HookCall(WebhookType.PRE_ROLLOUT, Phase.PROGRESSING)]
    assert decision.status.failed_checks == 1
    assert decision.status.reason == "PreRolloutFailed"
    assert decision.status.message == ("webhook migrate refused (HTTP 500 Internal Server "
                                       "Error: no db): failed check 1/2")
    assert [(e.type, e.message) for e in decision.events] == [
        ("Warning", "Halt podinfo.test advancement pre-rollout check migrate failed "
                    "HTTP 500 Internal Server Error: no db")]
    assert decision.actions == ()
    assert cluster.weights == (100, 0)
    run = cluster.run_until(in_phase(Phase.FAILED))
    assert run[-1].status.reason == "FailedChecksThreshold"
    assert cluster.calls_of(WebhookType.ROLLOUT) == []
    assert not any(cluster.queried)


def test_the_first_step_calls_the_rollout_hooks_after_pre_rollout() -> None:
    spec = with_hooks(hook("migrate", "pre-rollout"), hook("load-test"))
    cluster = new_revision(Cluster(spec))
    cluster.tick()
    cluster.tick()
    assert cluster.hook_calls[-1] == [HookCall(WebhookType.PRE_ROLLOUT, Phase.PROGRESSING),
                                      HookCall(WebhookType.ROLLOUT, Phase.PROGRESSING)]


def test_a_refused_rollout_hook_counts_a_failed_check_with_its_reason() -> None:
    spec = with_hooks(hook("load-test", "rollout"))
    seen = at(20, metrics=measured(), hooks={
        WebhookType.ROLLOUT: (HookResult("load-test", False, "timed out after 10s"),)})
    decision = decide(spec, status_in(Phase.PROGRESSING, weight=20), seen)
    assert decision.status.failed_checks == 1
    assert decision.status.reason == "ChecksFailed"
    assert "webhook load-test refused (timed out after 10s)" in decision.reason
    assert decision.reason.endswith("failed check 1/5")
    assert ("Warning", "Halt podinfo.test advancement external check load-test failed "
                       "timed out after 10s") in [(e.type, e.message) for e in decision.events]
    assert decision.actions == ()


def test_a_refused_rollout_hook_and_a_failing_metric_count_one_check() -> None:
    spec = with_hooks(hook("load-test"))
    seen = at(20, metrics=measured(success_rate=90.0), hooks={
        WebhookType.ROLLOUT: (HookResult("load-test", False, "HTTP 502"),)})
    decision = decide(spec, status_in(Phase.PROGRESSING, weight=20), seen)
    assert decision.status.failed_checks == 1
    assert "webhook load-test refused (HTTP 502)" in decision.reason
    assert "request-success-rate" in decision.reason


def test_an_empty_type_means_rollout() -> None:
    spec = with_hooks(hook("load-test"))
    status = status_in(Phase.PROGRESSING, weight=20)
    assert pending_hooks(spec, status, at(20, metrics=measured())) == HookCall(
        WebhookType.ROLLOUT, Phase.PROGRESSING)


def test_any_2xx_answer_passes_even_204() -> None:
    """The shell decides `ok` (any 2xx, unlike Flagger's <= 202); the core only reads it."""
    spec = with_hooks(hook("load-test"))
    seen = at(20, metrics=measured(), hooks={
        WebhookType.ROLLOUT: (HookResult("load-test", True, "HTTP 204 No Content"),)})
    decision = decide(spec, status_in(Phase.PROGRESSING, weight=20), seen)
    assert decision.actions == (SetWeights(70, 30),)
    assert decision.status.failed_checks == 0


def test_the_rollout_hooks_run_on_every_checked_interval() -> None:
    cluster = new_revision(Cluster(with_hooks(hook("load-test"))))
    cluster.run_until(in_phase(Phase.SUCCEEDED))
    # The first step, then the checks at weights 10..50.
    assert len(cluster.calls_of(WebhookType.ROLLOUT)) == 6
    assert {call.phase for call in cluster.calls_of(WebhookType.ROLLOUT)} == {Phase.PROGRESSING}


# -- rollback hooks ---------------------------------------------------------------------


def rollback_at(weight: int) -> Hooks:
    """The rollback hook signals a rollback (2xx) once the canary reaches `weight`."""
    def answer(cluster: Cluster, call: HookCall) -> tuple[HookResult, ...]:
        if call.type is not WebhookType.ROLLBACK:
            return everyone_ok(cluster, call)
        asked = cluster.status is not None and cluster.status.canary_weight >= weight
        return tuple(HookResult(name, asked, "" if asked else "HTTP 404")
                     for name in hook_names(cluster.spec, call.type))
    return answer


def test_a_rollback_hook_answering_2xx_rolls_back() -> None:
    spec = with_hooks(hook("abort", "rollback"))
    cluster = new_revision(Cluster(spec, hooks=rollback_at(30)))
    run = cluster.run_until(in_phase(Phase.FAILED))
    decision = run[-1]
    assert cluster.hook_calls[-1] == [HookCall(WebhookType.ROLLBACK, Phase.PROGRESSING)]
    assert decision.status.reason == "ManualRollback"
    assert decision.status.failed_checks == 0
    assert [(e.type, e.message) for e in decision.events] == [
        ("Warning", "Rolling back podinfo.test manual webhook invoked"),
        ("Warning", "Canary failed! Scaling down podinfo.test")]
    assert cluster.weights == (100, 0)
    assert cluster.target_replicas == 0
    assert cluster.primary_hash == "v1"
    # Asked on every analysis tick, none of which rolled back before weight 30.
    assert [d.status.canary_weight for d in run[:-1]][-1] == 30


def test_rollback_hooks_are_asked_while_waiting_for_promotion() -> None:
    spec = with_hooks(hook("abort", "rollback"), hook("promote", "confirm-promotion"))
    status = status_in(Phase.WAITING_PROMOTION, weight=50)
    call = pending_hooks(spec, status, at(50))
    assert call == HookCall(WebhookType.ROLLBACK, Phase.WAITING_PROMOTION)
    decision = decide(spec, status, at(50, hooks={
        WebhookType.ROLLBACK: (HookResult("abort", True),)}))
    assert decision.status.phase is Phase.FAILED
    assert decision.status.reason == "ManualRollback"


def test_rollback_hooks_hear_progressing_while_the_traffic_gate_is_closed() -> None:
    """WaitingTrafficIncrease is ours; hooks written for Flagger know Progressing."""
    spec = with_hooks(hook("abort", "rollback"))
    status = status_in(Phase.WAITING_TRAFFIC_INCREASE, weight=20)
    assert pending_hooks(spec, status, at(20)) == HookCall(WebhookType.ROLLBACK,
                                                           Phase.PROGRESSING)


def test_rollback_hooks_are_not_asked_before_the_step_is_due_or_when_promoting() -> None:
    spec = with_hooks(hook("abort", "rollback"))
    early = status_in(Phase.PROGRESSING, weight=20, last_step=observe().now)
    assert pending_hooks(spec, early, at(20)) is None
    for phase in (Phase.PROMOTING, Phase.FINALISING):
        assert pending_hooks(spec, status_in(phase, weight=50), at(50)) is None


def test_rollback_hooks_are_not_polled_while_a_rollout_is_awaited() -> None:
    """Waiting for a rollout polls every few seconds; as in Flagger (step 19 comes after
    the readiness checks) the rollback hooks are asked only once the analysis can step."""
    spec = with_hooks(hook("abort", "rollback"))
    cluster = new_revision(Cluster(spec, hooks=rollback_at(100)))
    cluster.tick()
    cluster.canary_ready = lambda _: ROLLING
    polled, times = [], []
    for _ in range(10):
        times.append(cluster.now)
        polled.append(cluster.tick())
    assert {d.status.reason for d in polled} == {"CanaryNotReady"}
    # Polled, not once an interval (1m).
    assert times[-1] - times[1] <= timedelta(seconds=8 * READINESS_POLL_SECONDS)
    assert cluster.calls_of(WebhookType.ROLLBACK) == []
    cluster.primary_ready = lambda _: ROLLING
    cluster.canary_ready = lambda _: READY
    for _ in range(5):
        assert cluster.tick().status.reason == "PrimaryNotReady"
    assert cluster.calls_of(WebhookType.ROLLBACK) == []
    cluster.primary_ready = lambda _: READY
    cluster.tick()
    assert cluster.calls_of(WebhookType.ROLLBACK, decisions=1) == [
        HookCall(WebhookType.ROLLBACK, Phase.PROGRESSING)]


def test_rollback_hooks_are_not_asked_when_the_analysis_is_skipped() -> None:
    cluster = new_revision(Cluster(with_hooks(hook("abort", "rollback"), skipAnalysis=True)))
    cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert cluster.calls_of(WebhookType.ROLLBACK) == []
    assert cluster.state.reason == "AnalysisSkipped"


# -- post-rollout hooks -------------------------------------------------------------------


POST = hook("notify", "post-rollout")


def test_post_rollout_hooks_run_once_promotion_succeeded() -> None:
    cluster = new_revision(Cluster(with_hooks(POST)))
    cluster.run_until(in_phase(Phase.SUCCEEDED))
    ran = [hooks for hooks in cluster.ran_hooks if hooks]
    assert ran == [[RunHooks(WebhookType.POST_ROLLOUT, Phase.SUCCEEDED)]]
    assert cluster.ran_hooks[-1] == ran[0]
    # Never a gate: the controller is not asked to call them before deciding.
    assert cluster.calls_of(WebhookType.POST_ROLLOUT) == []


def test_post_rollout_hooks_run_on_a_threshold_rollback_with_phase_failed() -> None:
    cluster = new_revision(Cluster(with_hooks(POST, threshold=1),
                                   metrics=lambda _: measured(success_rate=50.0)))
    cluster.run_until(in_phase(Phase.FAILED))
    assert [hooks for hooks in cluster.ran_hooks if hooks] == [
        [RunHooks(WebhookType.POST_ROLLOUT, Phase.FAILED)]]
    assert cluster.ran_hooks[-1] != []


def test_post_rollout_hooks_run_when_the_analysis_is_skipped() -> None:
    cluster = new_revision(Cluster(with_hooks(POST, skipAnalysis=True)))
    cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert cluster.state.reason == "AnalysisSkipped"
    assert cluster.ran_hooks[-1] == [RunHooks(WebhookType.POST_ROLLOUT, Phase.SUCCEEDED)]


def test_no_post_rollout_action_without_post_rollout_hooks() -> None:
    cluster = new_revision(Cluster(with_hooks(hook("load-test"), hook("audit", "event"))))
    cluster.run_until(in_phase(Phase.SUCCEEDED))
    assert not any(cluster.ran_hooks)
    assert cluster.calls_of(WebhookType.EVENT) == []


# -- what the controller is asked to call ----------------------------------------------------


ALL_PHASES = [phase for phase in Phase if phase is not Phase.NONE] + [Phase.NONE]
WORLDS = {
    "same revision": observe(),
    "new revision": observe(target_hash="v2"),
    "analysing": at(20),
    "measured": at(20, metrics=measured()),
    "failing": at(20, metrics=measured(success_rate=1.0)),
    "primary down": at(20, primary=Readiness(False, False, "stuck")),
}


@pytest.mark.parametrize("phase", ALL_PHASES)
@pytest.mark.parametrize("world", WORLDS)
def test_a_canary_without_gating_hooks_never_asks_for_a_call(phase: Phase, world: str) -> None:
    seen = WORLDS[world]
    for spec in (make_spec(), with_hooks(POST, hook("audit", "event")),
                 make_spec(iterations=3), make_spec(skipAnalysis=True)):
        for weight in (0, 20, 50):
            status = status_in(phase, weight=weight, applied="v2")
            assert pending_hooks(spec, status, seen) is None
            assert pending_hooks(spec, None, seen) is None


def test_decide_holds_while_a_needed_hook_was_not_called() -> None:
    spec = with_hooks(hook("migrate", "pre-rollout"))
    status = status_in(Phase.PROGRESSING)
    decision = decide(spec, status, at(0))
    assert decision.status == status
    assert decision.actions == ()
    assert decision.events == ()
    assert decision.reason == "waiting for the pre-rollout webhooks of podinfo.test"


def test_hooks_asked_before_the_checks_come_before_measuring() -> None:
    spec = with_hooks(hook("abort", "rollback"))
    status = status_in(Phase.PROGRESSING, weight=20)
    assert not needs_metrics(spec, status, at(20))
    answered = at(20, hooks={WebhookType.ROLLBACK: (HookResult("abort", False, "404"),)})
    assert needs_metrics(spec, status, answered)
    assert pending_hooks(spec, status, answered) is None


def test_the_confirm_rollout_payload_carries_the_current_phase() -> None:
    spec = with_hooks(hook("approve", "confirm-rollout"))
    for phase in (Phase.INITIALIZED, Phase.SUCCEEDED, Phase.FAILED, Phase.WAITING):
        status = status_in(phase, applied="v1")
        assert pending_hooks(spec, status, observe(target_hash="v2")) == HookCall(
            WebhookType.CONFIRM_ROLLOUT, phase)
    # No new revision: nothing to approve.
    assert pending_hooks(spec, status_in(Phase.SUCCEEDED, applied="v1"), observe()) is None


def test_a_gate_is_called_once_per_tick_even_with_several_hooks_of_its_type() -> None:
    spec = with_hooks(hook("a", "confirm-rollout"), hook("b", "confirm-rollout"))
    answers = {WebhookType.CONFIRM_ROLLOUT: (HookResult("a", True), HookResult("b", False, "no"))}
    decision = decide(spec, status_in(Phase.SUCCEEDED, applied="v1"),
                      observe(target_hash="v2", hooks=answers))
    assert decision.status.phase is Phase.WAITING
    assert messages([decision]) == ["Halt podinfo.test advancement waiting for approval b"]
    assert decision.status.message is not None
    assert decision.status.message.endswith("waits for approval: b (no)")


def test_a_whole_run_with_every_gate_calls_each_type_where_flagger_does() -> None:
    spec = with_hooks(
        hook("approve", "confirm-rollout"), hook("migrate", "pre-rollout"),
        hook("load-test"), hook("traffic", "confirm-traffic-increase"),
        hook("promote", "confirm-promotion"), hook("abort", "rollback"), POST)

    def answer(cluster: Cluster, call: HookCall) -> tuple[HookResult, ...]:
        ok = call.type is not WebhookType.ROLLBACK  # "not signalling a rollback"
        return tuple(HookResult(name, ok) for name in hook_names(cluster.spec, call.type))

    cluster = new_revision(Cluster(spec, hooks=answer))
    cluster.run_until(in_phase(Phase.SUCCEEDED))
    count = {kind: len(cluster.calls_of(kind)) for kind in WebhookType}
    assert count == {
        WebhookType.CONFIRM_ROLLOUT: 1, WebhookType.PRE_ROLLOUT: 1,
        # The first step, then the checks at 10, 20, 30, 40 and 50.
        WebhookType.ROLLOUT: 6, WebhookType.ROLLBACK: 6,
        # Before each of the five weight increases.
        WebhookType.CONFIRM_TRAFFIC_INCREASE: 5,
        WebhookType.CONFIRM_PROMOTION: 1,
        WebhookType.POST_ROLLOUT: 0, WebhookType.EVENT: 0,
    }
    assert cluster.ran_hooks[-1] == [RunHooks(WebhookType.POST_ROLLOUT, Phase.SUCCEEDED)]


def test_a_new_canary_status_asks_nothing_but_initialises() -> None:
    spec = with_hooks(hook("approve", "confirm-rollout"), hook("migrate", "pre-rollout"))
    assert pending_hooks(spec, None, observe(primary_exists=False)) is None
    assert pending_hooks(spec, CanaryStatus(), observe()) is None
