"""Flagger's builtin metrics for Istio: `request-success-rate` and `request-duration`.

The texts are Flagger's (`pkg/metrics/observers/istio.go`, as listed in the reference notes)
with `{{ namespace }}`, `{{ target }}` and `{{ interval }}` filled in. `target` is the canary
workload's name; Prometheus anchors `=~` regexes, so `<target>-primary` is not matched.
Units: the success rate is a percentage (0-100); the duration is the P99 in milliseconds
(Flagger truncates it to whole milliseconds before comparing with `thresholdRange`).
"""

from __future__ import annotations

from canary_operator.metrics.protocol import MetricConfigError
from canary_operator.metrics.templating import render_template

REQUEST_SUCCESS_RATE = "request-success-rate"
REQUEST_DURATION = "request-duration"
BUILTIN_METRICS = (REQUEST_SUCCESS_RATE, REQUEST_DURATION)

_ISTIO_QUERIES = {
    REQUEST_SUCCESS_RATE: (
        'sum(rate(istio_requests_total{reporter="destination",'
        'destination_workload_namespace="{{ namespace }}",\n'
        '  destination_workload=~"{{ target }}",response_code!~"5.*"}[{{ interval }}]))\n'
        '/ sum(rate(istio_requests_total{reporter="destination",'
        'destination_workload_namespace="{{ namespace }}",\n'
        '  destination_workload=~"{{ target }}"}[{{ interval }}])) * 100'
    ),
    REQUEST_DURATION: (
        "histogram_quantile(0.99, sum(rate("
        'istio_request_duration_milliseconds_bucket{reporter="destination",\n'
        '  destination_workload_namespace="{{ namespace }}",'
        'destination_workload=~"{{ target }}"}[{{ interval }}])) by (le))'
    ),
}


def is_builtin(metric_name: str) -> bool:
    return metric_name in _ISTIO_QUERIES


def builtin_query(metric_name: str, namespace: str, target: str, interval: str) -> str:
    """The Istio PromQL for a builtin metric of workload `namespace`/`target` over `interval`."""
    try:
        query_template = _ISTIO_QUERIES[metric_name]
    except KeyError:
        raise MetricConfigError(
            f"{metric_name!r} is not a builtin metric; builtin metrics are "
            f"{', '.join(BUILTIN_METRICS)}; use analysis.metrics[].query or templateRef"
        ) from None
    values = {"namespace": namespace, "target": target, "interval": interval}
    return render_template(query_template, values, f"builtin metric {metric_name!r}")
