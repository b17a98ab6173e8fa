"""Flagger's metrics and ours, recorded into a registry of their own."""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from canary_operator.api import CanarySpec

STRATEGIES = ("canary", "blue-green", "ab-testing")
"""Values of `deployment_strategy`."""
ANALYSIS_STATUSES = ("completed", "skipped")
"""Values of `analysis_status`."""
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""The Go client's default buckets, which Flagger's tick-duration histogram uses."""
OTHER_REASON = "Other"
"""The `reason` label of a decision whose reason is not a short CamelCase code."""

_REASON = re.compile(r"[A-Z][A-Za-z0-9]{0,47}")
_STATUS = {"Progressing": 0.0, "Failed": 2.0}
_STATUS_OTHER = 1.0
_CANARY = ("name", "namespace")
_PER_METRIC = ("name", "namespace", "metric")
_OUTCOME = ("name", "namespace", "deployment_strategy", "analysis_status")
_DECISION = ("namespace", "name", "reason")
_WORKLOAD = ("workload", "namespace")


def operator_version() -> str:
    """The installed distribution's version, or "unknown" when it is not installed."""
    try:
        return importlib.metadata.version("canary-operator")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def strategy_of(spec: CanarySpec) -> str:
    """Flagger's deployment strategy: iterations with match conditions are A/B testing,
    iterations alone blue/green, anything else (steps, no analysis) a canary."""
    analysis = spec.analysis
    if analysis is None or not analysis.iterations:
        return "canary"
    return "ab-testing" if analysis.match else "blue-green"


class _Series(Collector):
    """Our metrics as one collector, without the `_created` series the Python client adds
    to counters and histograms (Flagger's Go client has none)."""

    def __init__(self, metrics: Iterable[MetricWrapperBase]) -> None:
        self._metrics = tuple(metrics)

    def describe(self) -> Iterator[Metric]:
        for metric in self._metrics:
            yield from metric.describe()

    def collect(self) -> Iterator[Metric]:
        for metric in self._metrics:
            for family in metric.collect():
                family.samples = [s for s in family.samples if not s.name.endswith("_created")]
                yield family


def _drop(metric: MetricWrapperBase, labels: tuple[str, ...], **match: str) -> None:
    """Remove every series of `metric` (declared with `labels`) whose labels include
    `match`."""
    doomed: set[tuple[str, ...]] = set()
    for family in metric.collect():
        for sample in family.samples:
            if all(sample.labels.get(key) == value for key, value in match.items()):
                doomed.add(tuple(sample.labels[label] for label in labels))
    for values in doomed:
        metric.remove(*values)


class Telemetry:
    """Flagger's metrics and ours, in a registry of their own (`registry`)."""

    def __init__(self, *, version: str, mesh_provider: str,
                 registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        info = Gauge("flagger_info", "Flagger version and mesh provider information",
                     ("version", "mesh_provider"), registry=None)
        self._total = Gauge("flagger_canary_total", "Total number of canary object",
                            ("namespace",), registry=None)
        self._status = Gauge("flagger_canary_status", "Last canary analysis result",
                             _CANARY, registry=None)
        self._weight = Gauge("flagger_canary_weight",
                             "The virtual service destination weight current value",
                             _WORKLOAD, registry=None)
        self._analysis = Gauge("flagger_canary_metric_analysis",
                               "Last canary analysis result per metric", _PER_METRIC,
                               registry=None)
        self._duration = Histogram("flagger_canary_duration_seconds",
                                   "Seconds spent performing canary analysis.", _CANARY,
                                   buckets=DURATION_BUCKETS, registry=None)
        self._successes = Counter("flagger_canary_successes_total",
                                  "Total number of canary successes", _OUTCOME, registry=None)
        self._failures = Counter("flagger_canary_failures_total",
                                 "Total number of canary failures", _OUTCOME, registry=None)
        self._decisions = Counter("canary_operator_decisions_total",
                                  "Analysis ticks by the reason code of their decision",
                                  _DECISION, registry=None)
        self._failed_checks = Gauge("canary_operator_failed_checks",
                                    "Failed checks counted in the current analysis", _CANARY,
                                    registry=None)
        self._no_data = Counter("canary_operator_metric_no_data_total",
                                "Metric checks whose query returned no value", _PER_METRIC,
                                registry=None)
        # Every per-Canary metric labelled by `name` (the weights go by workload).
        self._by_name: tuple[tuple[MetricWrapperBase, tuple[str, ...]], ...] = (
            (self._status, _CANARY), (self._analysis, _PER_METRIC), (self._duration, _CANARY),
            (self._successes, _OUTCOME), (self._failures, _OUTCOME),
            (self._decisions, _DECISION), (self._failed_checks, _CANARY),
            (self._no_data, _PER_METRIC))
        self.registry.register(_Series(
            [info, self._total, self._weight, *(metric for metric, _ in self._by_name)]))
        info.labels(version, mesh_provider).set(1)
        self._namespaces: set[str] = set()

    def observe_tick(self, *, name: str, namespace: str, phase: str,
                     primary_weight: int | None, canary_weight: int | None, target: str,
                     seconds: float, reason: str | None, failed_checks: int) -> None:
        """Record one analysis tick of a Canary.

        `name` is the label of Flagger's series (the Canary's `targetRef.name`); `target`
        (also `targetRef.name`) names the two weight series, `<target>-primary` and
        `<target>`; a weight that is None (routes unknown) leaves its series as it is.
        `reason` is a short CamelCase code ("Advanced", "ChecksFailed"); anything else is
        counted as OTHER_REASON so free text never becomes a label; None counts nothing.
        """
        self._status.labels(name, namespace).set(_STATUS.get(phase, _STATUS_OTHER))
        if primary_weight is not None:
            self._weight.labels(f"{target}-primary", namespace).set(primary_weight)
        if canary_weight is not None:
            self._weight.labels(target, namespace).set(canary_weight)
        self._duration.labels(name, namespace).observe(seconds)
        self._failed_checks.labels(name, namespace).set(failed_checks)
        if reason is not None:
            code = reason if _REASON.fullmatch(reason) else OTHER_REASON
            self._decisions.labels(namespace, name, code).inc()

    def observe_metric(self, *, name: str, namespace: str, metric: str,
                       value: float | None) -> None:
        """Record the value one metric check saw, in the unit the check compared it in.

        The built-in `request-duration` is compared in milliseconds and exported in
        seconds, as Flagger does. None (the query returned nothing) leaves the last value
        in place, as Flagger does, and counts `canary_operator_metric_no_data_total`.
        """
        if value is None:
            self._no_data.labels(name, namespace, metric).inc()
            return
        exported = value / 1000 if metric == "request-duration" else value
        self._analysis.labels(name, namespace, metric).set(exported)

    def count_outcome(self, *, name: str, namespace: str, strategy: str, status: str,
                      succeeded: bool) -> None:
        """Count a finished analysis: promoted (`succeeded`) or rolled back.

        `strategy` is one of STRATEGIES (see `strategy_of`) and `status` one of
        ANALYSIS_STATUSES; anything else is a ValueError.
        """
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown deployment strategy {strategy!r}")
        if status not in ANALYSIS_STATUSES:
            raise ValueError(f"unknown analysis status {status!r}")
        counter = self._successes if succeeded else self._failures
        counter.labels(name, namespace, strategy, status).inc()

    def set_canary_totals(self, counts: Mapping[str, int]) -> None:
        """Set the number of Canaries per namespace; a namespace seen before and missing
        from `counts` is set to 0 (kept, so graphs show the drop)."""
        for namespace in self._namespaces.difference(counts):
            self._total.labels(namespace).set(0)
        for namespace, count in counts.items():
            self._total.labels(namespace).set(count)
        self._namespaces.update(counts)

    def forget(self, *, name: str, namespace: str, target: str) -> None:
        """Remove every series of a deleted Canary (`name`, `target` as in observe_tick)."""
        for metric, labels in self._by_name:
            _drop(metric, labels, name=name, namespace=namespace)
        for workload in (f"{target}-primary", target):
            _drop(self._weight, _WORKLOAD, workload=workload, namespace=namespace)

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)
