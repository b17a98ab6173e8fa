"""New revisions: detection from the idle phases, and restarts mid-analysis."""

from __future__ import annotations

from datetime import timedelta

import pytest

from canary_operator.analysis import ScaleTargetUp, SetWeights, decide, needs_metrics
from canary_operator.api import CanaryStatus, Phase
from tests.unit.test_analysis_helpers import (
    ROLLING,
    STUCK,
    T0,
    make_spec,
    observe,
    status_in,
)


def idle_status(phase: Phase = Phase.SUCCEEDED) -> CanaryStatus:
    return status_in(phase, applied="v1", promoted="v1")


@pytest.mark.parametrize("phase", [Phase.INITIALIZED, Phase.SUCCEEDED, Phase.FAILED])
def test_new_revision_scales_the_target_up_and_starts_progressing(phase: Phase) -> None:
    status = status_in(phase, applied="v1", promoted="v1", failed_checks=3)
    decision = decide(make_spec(), status, observe(target_hash="v2"))
    assert decision.actions == (ScaleTargetUp(2),)
    assert [event.message for event in decision.events] == [
        "New revision detected! Scaling up podinfo.test"]
    new = decision.status
    assert new.phase is Phase.PROGRESSING
    assert (new.canary_weight, new.failed_checks, new.iterations) == (0, 0, 0)
    assert new.last_applied_spec == "v2"
    assert new.last_promoted_spec == "v1"
    assert new.last_step_time == T0
    assert new.last_transition_time == T0
    (condition,) = new.conditions or []
    assert condition.message == "New revision detected, progressing canary analysis."


def test_new_revision_routes_everything_to_the_primary_first_when_the_weights_differ() -> None:
    status = status_in(Phase.FAILED, applied="v2", promoted="v1")
    decision = decide(make_spec(), status, observe(target_hash="v3", weights=(0, 100)))
    assert decision.actions == (SetWeights(100, 0), ScaleTargetUp(2))


def test_canary_replicas_come_from_the_target_when_it_has_any() -> None:
    decision = decide(make_spec(), idle_status(), observe(target_hash="v2", target_replicas=5))
    assert ScaleTargetUp(5) in decision.actions


def test_canary_replicas_default_to_one_without_target_or_primary_replicas() -> None:
    decision = decide(make_spec(), idle_status(),
                      observe(target_hash="v2", target_replicas=None, primary_replicas=None))
    assert ScaleTargetUp(1) in decision.actions


def test_the_same_revision_starts_nothing_and_writes_nothing() -> None:
    status = idle_status()
    decision = decide(make_spec(), status, observe(target_hash="v1"))
    assert decision.status == status
    assert decision.actions == ()
    assert decision.events == ()
    assert decision.reason


def test_returning_to_the_primary_spec_starts_nothing() -> None:
    failed = status_in(Phase.FAILED, applied="bad", promoted="good")
    decision = decide(make_spec(), failed, observe(target_hash="good"))
    assert decision.actions == ()
    assert decision.status.phase is Phase.FAILED
    assert decision.status.last_applied_spec == "good"
    assert decision.status.reason == "BackToPrimarySpec"
    # Re-applying the spec that failed is a new revision again.
    retry = decide(make_spec(), decision.status, observe(target_hash="bad"))
    assert retry.status.phase is Phase.PROGRESSING


def test_new_revision_waits_for_a_rolling_primary() -> None:
    status = idle_status()
    decision = decide(make_spec(), status, observe(target_hash="v2", primary=ROLLING))
    assert decision.actions == ()
    assert decision.status.phase is Phase.SUCCEEDED
    assert decision.status.last_applied_spec == "v1"
    assert decision.status.reason == "PrimaryNotReady"
    assert decision.events[0].message.startswith("podinfo-primary.test not ready: ")


def test_new_revision_holds_beside_a_primary_past_its_deadline() -> None:
    decision = decide(make_spec(), idle_status(), observe(target_hash="v2", primary=STUCK))
    assert decision.actions == ()
    assert decision.status.reason == "PrimaryStuck"
    assert decision.status.phase is Phase.SUCCEEDED


def test_skipped_analysis_does_not_wait_for_the_primary_to_start() -> None:
    decision = decide(make_spec(skipAnalysis=True), idle_status(),
                      observe(target_hash="v2", primary=ROLLING))
    assert decision.status.phase is Phase.PROGRESSING


def test_an_analysis_without_steps_or_iterations_is_reported_and_starts_nothing() -> None:
    spec = make_spec(stepWeight=None)
    decision = decide(spec, idle_status(), observe(target_hash="v2"))
    assert decision.actions == ()
    assert decision.status.reason == "StrategyNotSupported"
    assert "set stepWeight or stepWeights" in decision.events[0].message


def test_new_revision_mid_analysis_restarts_at_weight_zero() -> None:
    status = status_in(Phase.PROGRESSING, weight=30, failed_checks=2, applied="v2")
    decision = decide(make_spec(), status, observe(target_hash="v3", weights=(70, 30)))
    assert decision.actions == (SetWeights(100, 0),)
    assert [event.message for event in decision.events] == [
        "New revision detected! Restarting analysis for podinfo.test"]
    new = decision.status
    assert (new.phase, new.canary_weight, new.failed_checks) == (Phase.PROGRESSING, 0, 0)
    assert new.last_applied_spec == "v3"
    assert new.checks == []  # an empty list, so a merge patch clears the old checks


def test_restart_happens_even_before_the_next_step_is_due() -> None:
    status = status_in(Phase.PROGRESSING, weight=30, applied="v2", last_step=T0)
    decision = decide(make_spec(), status, observe(T0 + timedelta(seconds=5), target_hash="v3"))
    assert decision.status.reason == "AnalysisRestarted"


def test_returning_to_the_primary_spec_mid_analysis_restarts_the_analysis() -> None:
    status = status_in(Phase.PROGRESSING, weight=30, applied="v2", promoted="v1")
    decision = decide(make_spec(), status, observe(target_hash="v1"))
    assert decision.status.reason == "AnalysisRestarted"
    assert decision.status.last_applied_spec == "v1"


def test_the_tick_after_detection_waits_an_interval_and_measures_nothing() -> None:
    detected = decide(make_spec(), idle_status(), observe(target_hash="v2")).status
    soon = observe(T0 + timedelta(seconds=30), target_hash="v2", target_replicas=2)
    assert not needs_metrics(make_spec(), detected, soon)
    assert decide(make_spec(), detected, soon).status == detected
