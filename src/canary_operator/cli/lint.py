"""`kubectl canary lint FILE`: validate Canaries offline, then run their metric queries once.

Offline: every Canary and MetricTemplate in the file is validated with our models (the
errors name the field, the value and the fix), and the fields the operator stores but does
not act on yet are named. With a Prometheus URL, each metric's query runs once for the
canary (the target) and for the primary (`<target>-primary`): the current values, whether
each would pass now (the operator's own threshold logic, `analysis.checks.classify`), and
the results a check would trip over: no series, NaN, several series (Flagger silently
takes the last one), errors.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import yaml
from pydantic import ValidationError

from canary_operator.analysis.checks import CheckResult, Outcome, classify
from canary_operator.analysis.observation import MetricObservation
from canary_operator.api.canary import Canary, CanaryMetric, TargetRef
from canary_operator.api.metric_template import MetricTemplate
from canary_operator.api.support import format_validation_error, unsupported_fields
from canary_operator.metrics.prometheus import compact_query, interpret_response
from canary_operator.metrics.protocol import MetricConfigError
from canary_operator.metrics.resolve import metric_query

TemplateKey = tuple[str, str]  # namespace, name
TemplateLookup = Callable[[str, str], "MetricTemplate | str | None"]
PRIMARY_SUFFIX = "-primary"


@dataclass
class LintReport:
    lines: list[str] = field(default_factory=list)
    invalid: int = 0  # Canaries and MetricTemplates that do not validate
    canaries: list[Canary] = field(default_factory=list)
    templates: dict[TemplateKey, MetricTemplate] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return 1 if self.invalid else 0


def lint_text(text: str, default_namespace: str = "default", source: str = "<input>"
              ) -> LintReport:
    """Validate every Canary and MetricTemplate in a YAML stream (offline)."""
    report = LintReport()
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as error:
        report.lines.append(f"{source}: not valid YAML: {error}")
        report.invalid += 1
        return report
    found = 0
    for document in documents:
        if not isinstance(document, dict):
            continue
        kind = document.get("kind")
        if kind not in ("Canary", "MetricTemplate"):
            continue
        found += 1
        body = _with_namespace(document, default_namespace)
        metadata = body.get("metadata") or {}
        namespace, name = str(metadata.get("namespace")), str(metadata.get("name", "?"))
        try:
            if kind == "Canary":
                canary = Canary.model_validate(body)
            else:
                template = MetricTemplate.model_validate(body)
        except ValidationError as error:
            report.invalid += 1
            report.lines.append("✘ " + format_validation_error(str(kind), namespace, name, error))
            continue
        if kind == "Canary":
            report.canaries.append(canary)
            report.lines.append(f"✔ Canary {canary.key}: valid")
            report.lines += [f"  warning: {path} is stored but not acted on yet"
                             for path in unsupported_fields(canary.spec)]
        else:
            report.templates[(template.metadata.namespace, template.metadata.name)] = template
            report.lines.append(f"✔ MetricTemplate {namespace}/{name}: valid")
    if not found:
        report.lines.append(f"{source}: no Canary or MetricTemplate found")
    return report


def _with_namespace(document: dict[str, Any], default_namespace: str) -> dict[str, Any]:
    metadata = dict(document.get("metadata") or {})
    metadata.setdefault("namespace", default_namespace)
    return {**document, "metadata": metadata}


# --- the queries ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesShape:
    """What a check's single number hides: how many series answered, and NaN."""

    series: int
    nan: bool


def series_shape(body: bytes) -> SeriesShape:
    """Count the series of an instant-query answer (pure)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return SeriesShape(0, False)
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        return SeriesShape(0, False)
    result = data.get("result")
    if data.get("resultType") == "scalar" and isinstance(result, list):
        return SeriesShape(1, _is_nan(result))
    if data.get("resultType") == "vector" and isinstance(result, list):
        return SeriesShape(len(result), any(_is_nan(s.get("value")) for s in result
                                            if isinstance(s, dict)))
    return SeriesShape(0, False)


def _is_nan(pair: object) -> bool:
    if not (isinstance(pair, list) and len(pair) == 2):
        return False
    try:
        return math.isnan(float(pair[1]))
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class Measured:
    """One query for one side (canary or primary) and what the check would say."""

    side: str
    workload: str
    check: CheckResult | None  # None: no query could be made
    flags: tuple[str, ...]


def flags_for(shape: SeriesShape, check: CheckResult) -> tuple[str, ...]:
    """Why a user should look again at this result (pure)."""
    flags = []
    if check.outcome is Outcome.ERROR:
        return (f"error: {check.error}",)
    if shape.nan:
        flags.append("NaN (0/0 without traffic?): counts as NoData, a failed check")
    elif shape.series == 0:
        flags.append("empty result (no series): counts as NoData, a failed check")
    if shape.series > 1:
        flags.append(f"{shape.series} series: Flagger silently takes the last one; "
                     "aggregate the query (sum, avg, max)")
    return tuple(flags)


def run_query(http: httpx.Client, url: str, metric: CanaryMetric, promql: str
              ) -> tuple[CheckResult, SeriesShape]:
    """Run one instant query and classify it as the operator would."""
    sent = compact_query(promql)
    base = url.rstrip("/")
    try:
        response = http.get(f"{base}/api/v1/query", params={"query": sent})
    except httpx.HTTPError as error:
        observed = MetricObservation(metric.name, sent, metric.interval, None,
                                     error=f"cannot query Prometheus at {base}: {error}")
        return classify(metric, observed), SeriesShape(0, False)
    result = interpret_response(sent, response.status_code, response.content, base)
    observed = MetricObservation(metric.name, result.query, metric.interval, result.value,
                                 error=result.error)
    return classify(metric, observed), series_shape(response.content)


def _as_primary(canary: Canary) -> Canary:
    target = canary.spec.target_ref
    primary = TargetRef(api_version=target.api_version, kind=target.kind,
                        name=target.name + PRIMARY_SUFFIX)
    return canary.model_copy(update={"spec": canary.spec.model_copy(
        update={"target_ref": primary})})


def lint_queries(report: LintReport, prometheus_url: str, http: httpx.Client,
                 lookup: TemplateLookup | None = None) -> list[str]:
    """Run each valid Canary's metric queries once against `prometheus_url`."""
    lines: list[str] = [f"queries against {prometheus_url}:"]
    for canary in report.canaries:
        metrics = canary.spec.analysis.metrics if canary.spec.analysis else None
        lines.append(f"Canary {canary.key}:" + ("" if metrics else " no metrics"))
        for metric in metrics or []:
            lines += _lint_metric(report, canary, metric, prometheus_url, http, lookup)
    return lines


def _lint_metric(report: LintReport, canary: Canary, metric: CanaryMetric, url: str,
                 http: httpx.Client, lookup: TemplateLookup | None) -> list[str]:
    template: MetricTemplate | None = None
    if metric.template_ref is not None:
        namespace = metric.template_ref.namespace or canary.metadata.namespace
        key = (namespace, metric.template_ref.name)
        found = report.templates.get(key) or (lookup(*key) if lookup else None)
        if not isinstance(found, MetricTemplate):
            why = found if isinstance(found, str) else "not in the file, and no cluster to ask"
            return [f"  ? {metric.name}: MetricTemplate {namespace}/{key[1]} unresolved: {why}"]
        template = found
        if template.spec.provider.type != "prometheus":
            return [f"  ? {metric.name}: MetricTemplate {namespace}/{key[1]} uses provider "
                    f"{template.spec.provider.type}: not run (Prometheus only)"]
    lines: list[str] = []
    for side, subject in (("canary", canary), ("primary", _as_primary(canary))):
        workload = subject.spec.target_ref.name
        try:
            promql = metric_query(subject, metric, template)
        except MetricConfigError as error:
            return [f"  ✘ {metric.name}: {error}"]
        check, shape = run_query(http, url, metric, promql)
        if not lines:
            lines.append(f"  {metric.name} (threshold {check.threshold}, window "
                         f"{check.window})")
        verdict = {Outcome.PASS: "✔ would pass", Outcome.FAIL: f"✘ would fail "
                   f"({check.comparison})", Outcome.NO_DATA: "✘ NoData: would fail",
                   Outcome.ERROR: "? error: not counted"}[check.outcome]
        lines.append(f"    {side:<8} {workload:<32} {check.value_text:>12}  {verdict}")
        lines += [f"      ! {flag}" for flag in flags_for(shape, check)]
        if side == "canary":
            lines.append(f"      query: {check.query}")
    return lines


def lint_file(text: str, source: str, default_namespace: str, prometheus_url: str | None,
              lookup: TemplateLookup | None = None, timeout: float = 10.0) -> LintReport:
    """Everything `lint` does, printed lines in the report."""
    report = lint_text(text, default_namespace, source)
    if prometheus_url and report.canaries:
        with httpx.Client(timeout=timeout, follow_redirects=True) as http:
            report.lines += lint_queries(report, prometheus_url, http, lookup)
    return report


def unresolved_reason(error: Exception) -> str:
    return " ".join(str(error).split())[:200] or type(error).__name__

