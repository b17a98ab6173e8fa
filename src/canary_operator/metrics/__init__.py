"""Metric providers behind one protocol, the builtin Istio queries, MetricTemplate rendering.

`metric_query` turns a Canary metric into PromQL; a `MetricProvider` such as
`PrometheusProvider` runs it and answers with a `QueryResult` (a value, no data, or an error).
"""

from canary_operator.api.canary import BUILTIN_METRICS
from canary_operator.metrics.builtin import builtin_query
from canary_operator.metrics.prometheus import PrometheusProvider
from canary_operator.metrics.protocol import (
    MetricConfigError,
    MetricProvider,
    QueryResult,
    TemplateError,
)
from canary_operator.metrics.resolve import metric_query, uses_template
from canary_operator.metrics.templating import render, template_variables

__all__ = [
    "BUILTIN_METRICS",
    "MetricConfigError",
    "MetricProvider",
    "PrometheusProvider",
    "QueryResult",
    "TemplateError",
    "builtin_query",
    "metric_query",
    "render",
    "template_variables",
    "uses_template",
]
