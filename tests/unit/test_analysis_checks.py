"""Metric thresholds (flagger.md §3) and how values are printed."""

from __future__ import annotations

import math
from typing import Any

import pytest

from canary_operator.analysis import MetricObservation, Outcome, classify
from canary_operator.analysis.checks import run_checks
from canary_operator.analysis.formatting import go_duration, go_number
from canary_operator.api import CanaryMetric


def metric(name: str, **fields: Any) -> CanaryMetric:
    return CanaryMetric.model_validate({"name": name, **fields})


def seen(name: str, value: float | None, error: str | None = None) -> MetricObservation:
    return MetricObservation(name, f"query for {name}", "2m", value, error)


@pytest.mark.parametrize(("value", "outcome"), [(98.99, Outcome.FAIL), (99, Outcome.PASS)])
def test_legacy_success_rate_threshold_is_a_minimum(value: float, outcome: Outcome) -> None:
    result = classify(metric("request-success-rate", threshold=99),
                      seen("request-success-rate", value))
    assert result.outcome is outcome


@pytest.mark.parametrize(("value", "outcome"), [(501, Outcome.FAIL), (500, Outcome.PASS)])
def test_legacy_duration_threshold_is_a_maximum(value: float, outcome: Outcome) -> None:
    result = classify(metric("request-duration", threshold=500), seen("request-duration", value))
    assert result.outcome is outcome


def test_legacy_custom_threshold_is_a_maximum() -> None:
    rule = metric("errors", query="sum(errors)", threshold=2)
    assert classify(rule, seen("errors", 2.5)).outcome is Outcome.FAIL
    assert classify(rule, seen("errors", 1.5)).outcome is Outcome.PASS


def test_threshold_range_wins_over_the_legacy_threshold() -> None:
    rule = metric("request-success-rate", threshold=50, thresholdRange={"min": 99})
    assert classify(rule, seen("request-success-rate", 90)).outcome is Outcome.FAIL


def test_values_outside_min_or_max_fail_and_say_which_limit() -> None:
    rule = metric("latency-ratio", query="q", thresholdRange={"min": 0.5, "max": 1.5})
    low = classify(rule, seen("latency-ratio", 0.2))
    high = classify(rule, seen("latency-ratio", 3.2))
    assert (low.outcome, low.comparison) == (Outcome.FAIL, "< 0.5")
    assert (high.outcome, high.comparison) == (Outcome.FAIL, "> 1.5")
    assert classify(rule, seen("latency-ratio", 1.0)).outcome is Outcome.PASS
    assert low.threshold == ">= 0.5 and <= 1.5"


def test_success_rate_above_its_max_fails() -> None:
    rule = metric("request-success-rate", thresholdRange={"max": 99.5})
    result = classify(rule, seen("request-success-rate", 100))
    assert (result.outcome, result.comparison) == (Outcome.FAIL, "> 99.5%")


def test_durations_compare_as_whole_milliseconds() -> None:
    rule = metric("request-duration", thresholdRange={"max": 500})
    assert classify(rule, seen("request-duration", 500.9)).outcome is Outcome.PASS
    result = classify(rule, seen("request-duration", 1500.2))
    assert result.value_text == "1.5s"
    assert result.comparison == "> 500ms"


def test_a_metric_without_thresholds_only_needs_data() -> None:
    rule = metric("request-duration")
    assert classify(rule, seen("request-duration", 10_000)).outcome is Outcome.PASS
    assert classify(rule, seen("request-duration", None)).outcome is Outcome.NO_DATA


@pytest.mark.parametrize("value", [None, math.nan])
def test_no_value_or_nan_is_no_data(value: float | None) -> None:
    result = classify(metric("request-success-rate", thresholdRange={"min": 99}),
                      seen("request-success-rate", value))
    assert result.outcome is Outcome.NO_DATA
    assert result.counts_as_failed
    assert result.summary == "request-success-rate NoData (2m)"


def test_provider_errors_are_errors_whatever_the_value() -> None:
    result = classify(metric("request-success-rate", thresholdRange={"min": 99}),
                      seen("request-success-rate", 10, error="HTTP 503\nfrom prometheus"))
    assert result.outcome is Outcome.ERROR
    assert not result.counts_as_failed
    assert result.error == "HTTP 503 from prometheus"


def test_a_builtin_name_with_a_template_uses_custom_semantics() -> None:
    rule = metric("request-success-rate", templateRef={"name": "rate"}, threshold=99)
    # As a custom metric, the legacy threshold is a maximum.
    assert classify(rule, seen("request-success-rate", 99.5)).outcome is Outcome.FAIL


def test_results_carry_value_threshold_window_and_query() -> None:
    result = classify(metric("request-success-rate", thresholdRange={"min": 99}),
                      seen("request-success-rate", 97.5))
    assert result.summary == "request-success-rate 97.50% < 99% (2m)"
    status = result.to_status()
    assert (status.value, status.threshold, status.window, status.query) == (
        97.5, ">= 99%", "2m", "query for request-success-rate")


def test_checks_pair_observations_by_name_in_spec_order() -> None:
    rules = [metric("b", query="qb", thresholdRange={"max": 1}),
             metric("a", query="qa", thresholdRange={"max": 1}),
             metric("a", query="qa2", thresholdRange={"max": 1}),
             metric("c", query="qc")]
    results = run_checks(rules, [seen("a", 0.5), seen("b", 2), seen("a", 3)])
    assert [(result.name, result.outcome) for result in results] == [
        ("b", Outcome.FAIL), ("a", Outcome.PASS), ("a", Outcome.FAIL), ("c", Outcome.ERROR)]
    assert results[3].error == "the metric was not measured"


@pytest.mark.parametrize(("milliseconds", "text"), [
    (0, "0s"), (812, "812ms"), (1000, "1s"), (1500, "1.5s"), (61_250, "1m1.25s"),
    (120_000, "2m0s"), (3_600_000, "1h0m0s"), (-5, "-5ms"),
])
def test_durations_print_like_go(milliseconds: int, text: str) -> None:
    assert go_duration(milliseconds) == text


@pytest.mark.parametrize(("number", "text"), [
    (99.0, "99"), (99.5, "99.5"), (0.001, "0.001"), (1e-05, "1e-05"), (math.inf, "inf"),
])
def test_numbers_print_like_go(number: float, text: str) -> None:
    assert go_number(number) == text
