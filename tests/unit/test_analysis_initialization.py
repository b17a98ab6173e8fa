"""Phase "" / Initializing -> Initialized (flagger.md §2.2 steps 6-11, §1.4)."""

from __future__ import annotations

from datetime import timedelta

from canary_operator.analysis import (
    InitializeTargets,
    Readiness,
    ScaleTargetToZero,
    decide,
    needs_metrics,
)
from canary_operator.api import CanaryStatus, Phase
from tests.unit.test_analysis_helpers import ROLLING, STUCK, T0, make_spec, observe


def test_first_tick_creates_the_primary_without_touching_the_routes() -> None:
    decision = decide(make_spec(), None, observe(primary_exists=False, weights=None,
                                                 target_replicas=2))
    assert decision.actions == (InitializeTargets(with_routing=False),)
    assert decision.status.phase is Phase.INITIALIZING
    assert decision.events == ()
    assert decision.status.message == decision.reason == "creating podinfo-primary.test"


def test_initializing_sets_the_promoted_condition_unknown() -> None:
    decision = decide(make_spec(), None, observe(primary_exists=False))
    (condition,) = decision.status.conditions or []
    assert (condition.status, condition.reason) == ("Unknown", "Initializing")
    assert condition.message == "New Deployment detected, starting initialization."
    assert condition.last_transition_time == T0
    assert decision.status.last_transition_time == T0


def test_ready_primary_finishes_initialization() -> None:
    decision = decide(make_spec(), CanaryStatus(phase=Phase.INITIALIZING),
                      observe(target_hash="abc", target_replicas=2))
    assert decision.actions == (InitializeTargets(with_routing=True), ScaleTargetToZero())
    status = decision.status
    assert status.phase is Phase.INITIALIZED
    assert status.last_applied_spec == status.last_promoted_spec == "abc"
    assert [event.message for event in decision.events] == ["Initialization done! podinfo.test"]
    assert decision.events[0].type == "Normal"
    (condition,) = status.conditions or []
    assert (condition.status, condition.reason) == ("True", "Initialized")
    assert condition.message == "Deployment initialization completed."


def test_initialization_from_an_empty_phase_happens_in_one_tick_when_the_primary_is_ready() -> None:
    decision = decide(make_spec(), None, observe())
    assert decision.status.phase is Phase.INITIALIZED


def test_primary_not_ready_during_init_waits_with_a_warning() -> None:
    decision = decide(make_spec(), CanaryStatus(phase=Phase.INITIALIZING),
                      observe(primary=ROLLING, target_replicas=2))
    assert decision.status.phase is Phase.INITIALIZING
    assert decision.actions == (InitializeTargets(with_routing=False),)
    (event,) = decision.events
    assert event.type == "Warning"
    assert event.message == f"podinfo-primary.test not ready: {ROLLING.message}"
    assert decision.status.reason == "Initializing"


def test_primary_past_its_deadline_during_init_never_scales_the_target_down() -> None:
    decision = decide(make_spec(), CanaryStatus(phase=Phase.INITIALIZING),
                      observe(primary=STUCK, target_replicas=2))
    assert decision.status.phase is Phase.INITIALIZING
    assert ScaleTargetToZero() not in decision.actions
    assert "keeps serving" in decision.reason
    assert decision.events[0].type == "Warning"


def test_skipped_analysis_initializes_without_waiting_for_primary_readiness() -> None:
    decision = decide(make_spec(skipAnalysis=True), CanaryStatus(phase=Phase.INITIALIZING),
                      observe(primary=ROLLING))
    assert decision.status.phase is Phase.INITIALIZED
    assert decision.actions == (InitializeTargets(with_routing=True), ScaleTargetToZero())


def test_no_analysis_at_all_counts_as_skipped() -> None:
    decision = decide(make_spec(analysis=None), None, observe(primary=ROLLING))
    assert decision.status.phase is Phase.INITIALIZED


def test_missing_target_during_init_warns_and_does_nothing() -> None:
    decision = decide(make_spec(), None, observe(target_exists=False, target_hash=None))
    assert decision.actions == ()
    assert decision.status.phase is Phase.INITIALIZING
    assert decision.status.reason == "TargetNotFound"
    assert decision.events[0].message == (
        "Halt podinfo.test: target Deployment podinfo.test not found")


def test_promoted_condition_keeps_its_transition_time_while_its_status_is_unchanged() -> None:
    first = decide(make_spec(), None, observe(primary=ROLLING)).status
    later = T0 + timedelta(seconds=30)
    again = decide(make_spec(), first, observe(later, primary=ROLLING)).status
    assert again.conditions == first.conditions
    assert again.last_transition_time == T0
    done = decide(make_spec(), again, observe(later)).status
    (condition,) = done.conditions or []
    assert condition.last_transition_time == later
    assert done.last_transition_time == later


def test_initialization_never_asks_for_metrics() -> None:
    assert not needs_metrics(make_spec(), None, observe())


def test_waiting_for_the_primary_twice_writes_nothing_new() -> None:
    status = CanaryStatus(phase=Phase.INITIALIZING)
    once = decide(make_spec(), status, observe(primary=Readiness(False, True, "rolling")))
    twice = decide(make_spec(), once.status,
                   observe(T0 + timedelta(seconds=2), primary=Readiness(False, True, "rolling")))
    assert twice.status == once.status
