"""Progressing: the first step, metric checks, advancing, promotion start, rollbacks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from canary_operator.analysis import (
    MetricObservation,
    Observation,
    PromoteTemplate,
    ScaleTargetToZero,
    SetWeights,
    decide,
    needs_metrics,
)
from canary_operator.api import CanaryStatus, Phase
from tests.unit.test_analysis_helpers import (
    ROLLING,
    STUCK,
    T0,
    make_spec,
    measured,
    observe,
    status_in,
)


def progressing(weight: int = 10, **fields: Any) -> CanaryStatus:
    return status_in(Phase.PROGRESSING, weight=weight, **fields)


def at(weight: int, **fields: Any) -> Observation:
    """What a tick sees mid-analysis of revision v2 at `weight`."""
    return observe(**{"target_hash": "v2", "target_replicas": 2,
                      "weights": (100 - weight, weight), **fields})


def test_first_step_advances_without_metrics() -> None:
    status = progressing(0)
    seen = at(0)
    assert not needs_metrics(make_spec(), status, seen)
    decision = decide(make_spec(), status, seen)
    assert decision.actions == (SetWeights(90, 10),)
    assert [event.message for event in decision.events] == [
        "Starting canary analysis for podinfo.test", "Advance podinfo.test canary weight 10"]
    assert decision.status.canary_weight == 10
    assert decision.status.last_step_time == T0
    assert decision.status.reason == "AnalysisStarted"


def test_a_late_step_is_recorded_at_its_slot_so_later_steps_keep_the_cadence() -> None:
    status = progressing(10, last_step=T0 - timedelta(seconds=64))
    decision = decide(make_spec(), status, at(10, metrics=measured()))
    assert decision.actions == (SetWeights(80, 20),)
    assert decision.status.last_step_time == T0 - timedelta(seconds=4)


def test_passing_checks_advance_by_the_step_weight() -> None:
    status = progressing(10)
    seen = at(10, metrics=measured())
    assert needs_metrics(make_spec(), status, at(10))
    decision = decide(make_spec(), status, seen)
    assert decision.actions == (SetWeights(80, 20),)
    assert [event.message for event in decision.events] == [
        "Advance podinfo.test canary weight 20"]
    assert decision.status.canary_weight == 20
    assert decision.status.failed_checks == 0
    assert "canary weight 10 -> 20" in decision.reason


@pytest.mark.parametrize(("step", "max_weight", "weight", "expected"), [
    (20, 50, 40, 50),  # never past maxWeight, where Flagger would go to 60
    (30, 100, 90, 100),
    (10, 50, 45, 50),
])
def test_weight_never_exceeds_max_weight(step: int, max_weight: int, weight: int,
                                         expected: int) -> None:
    spec = make_spec(stepWeight=step, maxWeight=max_weight)
    decision = decide(spec, progressing(weight), at(weight, metrics=measured()))
    assert decision.actions == (SetWeights(100 - expected, expected),)


@pytest.mark.parametrize(("weight", "expected"), [(0, 5), (5, 10), (10, 25), (25, 50), (17, 25)])
def test_step_weights_follow_the_list(weight: int, expected: int) -> None:
    spec = make_spec(stepWeight=None, maxWeight=None, stepWeights=[5, 10, 25, 50])
    decision = decide(spec, progressing(weight), at(weight, metrics=measured()))
    assert decision.status.canary_weight == expected


def test_step_weight_wins_over_step_weights() -> None:
    spec = make_spec(stepWeight=15, maxWeight=60, stepWeights=[5, 10])
    decision = decide(spec, progressing(15), at(15, metrics=measured()))
    assert decision.status.canary_weight == 30


def test_max_weight_zero_means_one_hundred_as_in_flagger() -> None:
    spec = make_spec(stepWeight=50, maxWeight=0)
    decision = decide(spec, progressing(50), at(50, metrics=measured()))
    assert decision.status.canary_weight == 100


def test_passing_checks_at_max_weight_start_the_promotion() -> None:
    decision = decide(make_spec(), progressing(50), at(50, metrics=measured()))
    assert decision.actions == (PromoteTemplate("v2"),)
    assert [event.message for event in decision.events] == [
        "Copying podinfo.test template spec to podinfo-primary.test"]
    assert decision.status.phase is Phase.PROMOTING
    assert decision.status.canary_weight == 50
    (condition,) = decision.status.conditions or []
    assert condition.message == "Canary analysis completed, starting primary rolling update."


def test_failed_success_rate_counts_a_failed_check_and_holds() -> None:
    decision = decide(make_spec(), progressing(20, failed_checks=1),
                      at(20, metrics=measured(success_rate=97.5)))
    assert decision.actions == ()
    assert decision.status.failed_checks == 2
    assert decision.status.canary_weight == 20
    (event,) = decision.events
    assert (event.type, event.message) == (
        "Warning", "Halt podinfo.test advancement success rate 97.50% < 99%")
    assert decision.reason == "request-success-rate 97.50% < 99% (1m): failed check 2/5"
    assert decision.status.message == decision.reason
    assert decision.status.reason == "ChecksFailed"


def test_slow_requests_halt_with_the_duration_in_milliseconds() -> None:
    decision = decide(make_spec(), progressing(), at(10, metrics=measured(duration=812.7)))
    assert decision.events[0].message == (
        "Halt podinfo.test advancement request duration 812ms > 500ms")
    assert decision.status.failed_checks == 1


def test_custom_metric_halts_with_its_name_and_value() -> None:
    spec = make_spec(metrics=[{"name": "error-rate", "query": "sum(errors)",
                               "thresholdRange": {"max": 2}}])
    seen = at(10, metrics=(MetricObservation("error-rate", "sum(errors)", "1m", 3.2),))
    decision = decide(spec, progressing(), seen)
    assert decision.events[0].message == "Halt podinfo.test advancement error-rate 3.20 > 2"


def test_every_failing_metric_is_reported_but_counts_once_per_tick() -> None:
    decision = decide(make_spec(), progressing(),
                      at(10, metrics=measured(success_rate=90, duration=900)))
    assert len(decision.events) == 2
    assert decision.status.failed_checks == 1


def test_no_data_counts_as_failed_and_names_the_query_and_window() -> None:
    decision = decide(make_spec(), progressing(), at(10, metrics=measured(success_rate=None)))
    assert decision.status.failed_checks == 1
    (event,) = decision.events
    assert event.type == "Warning"
    assert "request-success-rate NoData" in event.message
    assert "over 1m" in event.message
    assert "sum(rate(ok[1m])) / sum(rate(all[1m]))" in event.message
    assert "probably podinfo.test is not receiving traffic" in event.message
    (first, second) = decision.status.checks or []
    assert (first.outcome, first.value, first.window) == ("NoData", None, "1m")
    assert second.outcome == "Pass"


def test_provider_errors_neither_count_nor_advance() -> None:
    decision = decide(make_spec(), progressing(20, failed_checks=2),
                      at(20, metrics=measured(error="connection refused")))
    assert decision.actions == ()
    assert decision.status.failed_checks == 2
    assert decision.status.canary_weight == 20
    assert decision.status.reason == "ChecksUnavailable"
    assert decision.status.last_step_time == T0  # retried one interval later
    assert decision.events[0].message == (
        "Halt podinfo.test advancement request-success-rate query failed: connection refused "
        "(not counted as a failed check)")
    assert "not counted as a failed check" in decision.reason


def test_a_real_failure_beside_a_provider_error_still_counts() -> None:
    metrics = (MetricObservation("request-success-rate", "q", "1m", 42.0),
               MetricObservation("request-duration", "q", "1m", None, error="timeout"))
    decision = decide(make_spec(), progressing(), at(10, metrics=metrics))
    assert decision.status.failed_checks == 1
    assert len(decision.events) == 2


def test_a_metric_nobody_measured_is_an_error_not_a_failure() -> None:
    metrics = (MetricObservation("request-success-rate", "q", "1m", 99.9),)
    decision = decide(make_spec(), progressing(), at(10, metrics=metrics))
    assert decision.status.failed_checks == 0
    assert decision.status.reason == "ChecksUnavailable"


def test_checks_record_value_threshold_window_and_query_in_the_status() -> None:
    decision = decide(make_spec(), progressing(), at(10, metrics=measured()))
    (rate, duration) = decision.status.checks or []
    assert (rate.name, rate.outcome, rate.value, rate.threshold, rate.window) == (
        "request-success-rate", "Pass", 99.9, ">= 99%", "1m")
    assert rate.query == "sum(rate(ok[1m])) / sum(rate(all[1m]))"
    assert (duration.threshold, duration.value) == ("<= 500ms", 120.0)


def test_an_analysis_without_metrics_advances_without_querying() -> None:
    spec = make_spec(metrics=[])
    assert not needs_metrics(spec, progressing(), at(10))
    decision = decide(spec, progressing(), at(10))
    assert decision.status.canary_weight == 20


def test_rolls_back_after_threshold_failed_checks() -> None:
    decision = decide(make_spec(), progressing(30, failed_checks=5), at(30))
    assert decision.actions == (SetWeights(100, 0), ScaleTargetToZero())
    assert [(event.type, event.message) for event in decision.events] == [
        ("Warning", "Rolling back podinfo.test failed checks threshold reached 5"),
        ("Warning", "Canary failed! Scaling down podinfo.test"),
    ]
    status = decision.status
    assert (status.phase, status.canary_weight, status.failed_checks) == (Phase.FAILED, 0, 5)
    (condition,) = status.conditions or []
    assert (condition.status, condition.message) == (
        "False", "Canary analysis failed, Deployment scaled to zero.")


def test_threshold_zero_or_less_means_one() -> None:
    decision = decide(make_spec(threshold=0), progressing(failed_checks=1), at(10))
    assert decision.status.phase is Phase.FAILED


def test_canary_not_ready_waits_without_a_failed_check() -> None:
    status = progressing(20, failed_checks=1)
    decision = decide(make_spec(), status, at(20, canary=ROLLING))
    assert decision.actions == ()
    assert decision.status.failed_checks == 1
    assert decision.status.last_step_time == status.last_step_time
    assert decision.status.reason == "CanaryNotReady"
    (event,) = decision.events
    assert event.message == f"canary deployment podinfo.test not ready: {ROLLING.message}"


def test_canary_past_its_deadline_rolls_back() -> None:
    decision = decide(make_spec(), progressing(20), at(20, canary=STUCK))
    assert decision.actions == (SetWeights(100, 0), ScaleTargetToZero())
    assert decision.status.phase is Phase.FAILED
    assert decision.events[0].message == (
        "Rolling back podinfo.test progress deadline exceeded canary deployment "
        f"podinfo.test not ready: {STUCK.message}")
    assert decision.events[1].message == "Canary failed! Scaling down podinfo.test"


def test_rolling_primary_pauses_the_analysis() -> None:
    decision = decide(make_spec(), progressing(20), at(20, primary=ROLLING))
    assert decision.actions == ()
    assert decision.status.reason == "PrimaryNotReady"


def test_primary_past_its_deadline_holds_the_analysis_instead_of_rolling_back() -> None:
    decision = decide(make_spec(), progressing(20), at(20, primary=STUCK))
    assert decision.actions == ()
    assert decision.status.phase is Phase.PROGRESSING
    assert decision.status.reason == "PrimaryStuck"


def test_nothing_happens_before_the_next_step_is_due() -> None:
    status = progressing(20, last_step=T0)
    seen = at(20, metrics=measured(success_rate=10))
    later = T0 + timedelta(seconds=30)
    early = at(20, metrics=measured(success_rate=10))
    assert not needs_metrics(make_spec(), status, early)
    decision = decide(make_spec(), status, seen)
    assert decision.status == status
    assert decision.actions == ()
    assert decision.events == ()
    assert "due in" in decision.reason
    assert decide(make_spec(), status, observe(later, target_hash="v2")).status == status


def test_a_tick_a_little_early_still_counts() -> None:
    status = progressing(20, last_step=T0)
    seen = observe(T0 + timedelta(seconds=59.5), target_hash="v2", metrics=measured())
    assert decide(make_spec(), status, seen).status.canary_weight == 30


def test_waiting_promotion_from_flagger_promotes_once_the_checks_pass() -> None:
    status = status_in(Phase.WAITING_PROMOTION, weight=0)
    decision = decide(make_spec(), status, at(50, metrics=measured()))
    assert decision.actions == (PromoteTemplate("v2"),)
    assert decision.status.canary_weight == 50


def test_skip_analysis_promotes_once_the_canary_is_ready() -> None:
    spec = make_spec(skipAnalysis=True)
    decision = decide(spec, progressing(0), at(0))
    assert decision.actions == (SetWeights(100, 0), PromoteTemplate("v2"), ScaleTargetToZero())
    assert decision.status.phase is Phase.SUCCEEDED
    assert decision.status.last_promoted_spec == "v2"
    assert [event.message for event in decision.events] == [
        "Promotion completed! Canary analysis was skipped for podinfo.test"]


def test_skip_analysis_still_rolls_back_a_canary_past_its_deadline() -> None:
    decision = decide(make_spec(skipAnalysis=True), progressing(0), at(0, canary=STUCK))
    assert decision.status.phase is Phase.FAILED


def test_skip_analysis_waits_for_a_rolling_canary() -> None:
    decision = decide(make_spec(skipAnalysis=True), progressing(0), at(0, canary=ROLLING))
    assert decision.status.phase is Phase.PROGRESSING
    assert decision.actions == ()


def test_suspended_canary_does_nothing() -> None:
    status = progressing(20)
    decision = decide(make_spec(suspend=True), status, at(20, metrics=measured(10)))
    assert decision.status == status
    assert decision.actions == ()
    assert [event.message for event in decision.events] == [
        "skipping canary run as object is suspended"]
    assert not needs_metrics(make_spec(suspend=True), status, at(20))
