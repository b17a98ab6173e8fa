"""Metric checks: one query result against one metric's thresholds (flagger.md §3).

Five outcomes. `Pass` and `Fail` compare the value; `NoData` (an empty result or NaN)
counts as a failed check, as in Flagger, but is reported as its own outcome with the
query and the window; `Invalid` (a missing or unrenderable MetricTemplate, a query the
provider rejects, refused credentials, an unsupported provider) counts as a failed check,
as in Flagger, since waiting cannot cure it; `Error` (the provider down, a timeout, a 5xx)
is not counted: the analysis holds until the provider answers again, for at most
`progressDeadlineSeconds` (`progress.judge`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from canary_operator.analysis.formatting import go_duration, go_number, one_line
from canary_operator.analysis.observation import MetricObservation
from canary_operator.api.canary import REQUEST_DURATION, REQUEST_SUCCESS_RATE, CanaryMetric
from canary_operator.api.status import MetricCheckStatus

Bound = Literal["min", "max"]


class Outcome(StrEnum):
    PASS = "Pass"
    FAIL = "Fail"
    NO_DATA = "NoData"
    INVALID = "Invalid"  # the configuration is wrong: a failed check
    ERROR = "Error"  # an outage: holds, not counted


class MetricKind(StrEnum):
    SUCCESS_RATE = "success-rate"  # percent
    DURATION = "duration"  # milliseconds, compared as whole milliseconds
    CUSTOM = "custom"  # a template or an inline query


@dataclass(frozen=True)
class Limits:
    min: float | None
    max: float | None


@dataclass(frozen=True)
class CheckResult:
    name: str
    kind: MetricKind
    outcome: Outcome
    value: float | None
    threshold: str  # the limits as text: ">= 99%", "<= 500ms", "none"
    window: str
    query: str
    error: str | None = None
    failed_bound: Bound | None = None  # which limit a `Fail` crossed
    limit: float | None = None  # and its value

    @property
    def counts_as_failed(self) -> bool:
        return self.outcome in (Outcome.FAIL, Outcome.NO_DATA, Outcome.INVALID)

    @property
    def value_text(self) -> str:
        return "no value" if self.value is None else format_value(self.kind, self.value)

    @property
    def summary(self) -> str:
        """One phrase for reasons and status messages, with the numbers and the window."""
        if self.outcome is Outcome.ERROR:
            return f"{self.name} query failed: {self.error}"
        if self.outcome is Outcome.INVALID:
            return f"{self.name} cannot be checked: {self.error}"
        if self.outcome is Outcome.NO_DATA:
            return f"{self.name} NoData ({self.window})"
        if self.outcome is Outcome.FAIL:
            return f"{self.name} {self.value_text} {self.comparison} ({self.window})"
        return f"{self.name} {self.value_text} ok ({self.threshold}, {self.window})"

    @property
    def comparison(self) -> str:
        """For a `Fail`: the operator and the crossed limit, as in "< 99%"."""
        if self.limit is None:
            return self.threshold
        operator = "<" if self.failed_bound == "min" else ">"
        return f"{operator} {format_limit(self.kind, self.limit)}"

    def to_status(self) -> MetricCheckStatus:
        return MetricCheckStatus(
            name=self.name,
            outcome=self.outcome.value,
            value=self.value,
            threshold=self.threshold,
            window=self.window,
            query=one_line(self.query) or None,
            error=self.error,
        )


def metric_kind(metric: CanaryMetric) -> MetricKind:
    """Builtin semantics only for a builtin name without a template or an inline query."""
    if metric.template_ref is None and not metric.query:
        if metric.name == REQUEST_SUCCESS_RATE:
            return MetricKind.SUCCESS_RATE
        if metric.name == REQUEST_DURATION:
            return MetricKind.DURATION
    return MetricKind.CUSTOM


def limits(metric: CanaryMetric, kind: MetricKind) -> Limits:
    """thresholdRange wins; the legacy `threshold` is a minimum for the success rate and
    a maximum for everything else. No threshold at all checks only that data exists."""
    if metric.threshold_range is not None:
        return Limits(metric.threshold_range.min, metric.threshold_range.max)
    if metric.threshold is None:
        return Limits(None, None)
    if kind is MetricKind.SUCCESS_RATE:
        return Limits(metric.threshold, None)
    return Limits(None, metric.threshold)


def classify(metric: CanaryMetric, observed: MetricObservation) -> CheckResult:
    kind = metric_kind(metric)
    bounds = limits(metric, kind)
    threshold = threshold_text(kind, bounds)

    def result(outcome: Outcome, value: float | None = None, error: str | None = None,
               failed_bound: Bound | None = None) -> CheckResult:
        limit = {"min": bounds.min, "max": bounds.max}[failed_bound] if failed_bound else None
        return CheckResult(
            name=metric.name, kind=kind, outcome=outcome, value=value, threshold=threshold,
            window=observed.window or metric.interval, query=observed.query,
            error=error, failed_bound=failed_bound, limit=limit,
        )

    if observed.error is not None:
        return result(Outcome.INVALID if observed.invalid else Outcome.ERROR,
                      error=one_line(observed.error) or "unknown error")
    if observed.value is None or math.isnan(observed.value):
        return result(Outcome.NO_DATA)
    value = observed.value
    compared, low, high = _comparable(kind, value, bounds)
    if low is not None and compared < low:
        return result(Outcome.FAIL, value, failed_bound="min")
    if high is not None and compared > high:
        return result(Outcome.FAIL, value, failed_bound="max")
    return result(Outcome.PASS, value)


def run_checks(
    metrics: Sequence[CanaryMetric], observed: Sequence[MetricObservation]
) -> tuple[CheckResult, ...]:
    """Classify every metric of the spec, in spec order, against its observation (matched
    by name, in order for repeated names); a metric nobody measured is an `Error`."""
    unused = list(observed)
    results = []
    for metric in metrics:
        match = next((item for item in unused if item.name == metric.name), None)
        if match is None:
            match = MetricObservation(metric.name, "", metric.interval, None,
                                      error="the metric was not measured")
        else:
            unused.remove(match)
        results.append(classify(metric, match))
    return tuple(results)


def format_value(kind: MetricKind, value: float) -> str:
    if not math.isfinite(value):
        return go_number(value)
    if kind is MetricKind.SUCCESS_RATE:
        return f"{value:.2f}%"
    if kind is MetricKind.DURATION:
        return go_duration(_whole(value))
    return f"{value:.2f}"


def format_limit(kind: MetricKind, limit: float) -> str:
    if not math.isfinite(limit):
        return go_number(limit)
    if kind is MetricKind.SUCCESS_RATE:
        return f"{go_number(limit)}%"
    if kind is MetricKind.DURATION:
        return go_duration(_whole(limit))
    return go_number(limit)


def threshold_text(kind: MetricKind, bounds: Limits) -> str:
    parts = []
    if bounds.min is not None:
        parts.append(f">= {format_limit(kind, bounds.min)}")
    if bounds.max is not None:
        parts.append(f"<= {format_limit(kind, bounds.max)}")
    return " and ".join(parts) or "none"


def _comparable(
    kind: MetricKind, value: float, bounds: Limits
) -> tuple[float, float | None, float | None]:
    """Durations compare as whole milliseconds, as Flagger's `time.Duration` does."""
    if kind is not MetricKind.DURATION:
        return value, bounds.min, bounds.max
    low = None if bounds.min is None else _truncated(bounds.min)
    high = None if bounds.max is None else _truncated(bounds.max)
    return _truncated(value), low, high


def _truncated(milliseconds: float) -> float:
    return float(int(milliseconds)) if math.isfinite(milliseconds) else milliseconds


def _whole(milliseconds: float) -> int:
    return int(milliseconds)
