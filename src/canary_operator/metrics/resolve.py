"""Which query a Canary metric runs: a builtin, its inline query, or its MetricTemplate's."""

from __future__ import annotations

from canary_operator.api.canary import BUILTIN_METRICS, Canary, CanaryMetric
from canary_operator.api.metric_template import MetricTemplate
from canary_operator.metrics.builtin import builtin_query, is_builtin
from canary_operator.metrics.protocol import MetricConfigError
from canary_operator.metrics.templating import render


def metric_query(canary: Canary, metric: CanaryMetric, template: MetricTemplate | None) -> str:
    """The PromQL for `metric`, in Flagger's order: builtin name, inline query, templateRef.

    `template` is the MetricTemplate that `metric.templateRef` names, looked up by the
    caller (None when the metric has no templateRef or the template was not found).
    A metric named like a builtin runs the builtin even if it also has a query or a
    templateRef (Flagger would run both). Flagger sends inline queries verbatim; we render
    them like templates, which leaves any query without `{{` unchanged and lets inline
    queries use `{{ target }}` too.
    """
    if is_builtin(metric.name):
        return builtin_query(
            metric.name, canary.metadata.namespace, canary.spec.target_ref.name, metric.interval
        )
    if metric.query is not None and metric.query.strip():
        return render(metric.query, canary, metric, origin="inline query")
    if template is not None:
        return render(template.spec.query, canary, metric, origin=_template_key(template))
    if metric.template_ref is not None:
        namespace = metric.template_ref.namespace or canary.metadata.namespace
        raise MetricConfigError(
            f"Canary {canary.key}: metric {metric.name!r}: MetricTemplate "
            f"{namespace}/{metric.template_ref.name} named by templateRef was not found; "
            "create it or fix analysis.metrics[].templateRef"
        )
    raise MetricConfigError(
        f"Canary {canary.key}: metric {metric.name!r}: no usable metrics template and query "
        "were configured; set analysis.metrics[].query or templateRef, or use a builtin "
        f"metric name ({', '.join(BUILTIN_METRICS)})"
    )


def _template_key(template: MetricTemplate) -> str:
    return f"MetricTemplate {template.metadata.namespace}/{template.metadata.name}"


def uses_template(metric: CanaryMetric) -> bool:
    """Whether `metric_query` renders the metric's templateRef (a builtin name or an
    inline query comes first)."""
    return (metric.template_ref is not None and not is_builtin(metric.name)
            and not (metric.query is not None and metric.query.strip()))
