"""Flagger's builtin metrics for Istio: `request-success-rate` and `request-duration`.

The texts are Flagger's (`pkg/metrics/observers/istio.go`, as listed in the reference notes)
with `{{ namespace }}`, `{{ target }}` and `{{ interval }}` filled in. `target` is the canary
workload's name; Prometheus anchors `=~` regexes, so `<target>-primary` is not matched.
Units: the success rate is a percentage (0-100); the duration is the P99 in milliseconds
(Flagger truncates it to whole milliseconds before comparing with `thresholdRange`).
"""

from __future__ import annotations

import re
from collections.abc import Collection

from canary_operator.api.canary import BUILTIN_METRICS, REQUEST_DURATION, REQUEST_SUCCESS_RATE
from canary_operator.metrics.protocol import MetricConfigError
from canary_operator.metrics.templating import render_template

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


# One query for many workloads: the same expressions, aggregated per workload instead of
# filtered to one.
_BY_WORKLOAD = "destination_workload_namespace,destination_workload"
# A name is its own anchored regex when it has no regex syntax: DNS labels only (a dot
# would match any character), so a batch matches exactly the workloads it was asked for.
_PLAIN_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


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


def batchable(metric_name: str, namespace: str, target: str) -> bool:
    """True when a batch query answers for this builtin metric of this workload exactly
    as `builtin_query` would."""
    return (metric_name in BUILTIN_METRICS and _PLAIN_NAME.fullmatch(namespace) is not None
            and _PLAIN_NAME.fullmatch(target) is not None)


def batch_builtin_query(metric_name: str, workloads: Collection[tuple[str, str]],
                        interval: str) -> str:
    """One PromQL query giving builtin metric `metric_name` for each (namespace, target)
    of `workloads` (all `batchable`), one series per workload labelled with
    `destination_workload_namespace` and `destination_workload`. Its value for a
    workload equals `builtin_query`'s; a workload without data has no series."""
    namespaces = "|".join(sorted({namespace for namespace, _ in workloads}))
    targets = "|".join(sorted({target for _, target in workloads}))
    selector = (f'reporter="destination",destination_workload_namespace=~"{namespaces}",'
                f'destination_workload=~"{targets}"')
    if metric_name == REQUEST_SUCCESS_RATE:
        return (f"sum by ({_BY_WORKLOAD}) (rate(istio_requests_total{{{selector},"
                f'response_code!~"5.*"}}[{interval}]))\n'
                f"/ sum by ({_BY_WORKLOAD}) (rate(istio_requests_total{{{selector}}}"
                f"[{interval}])) * 100")
    if metric_name == REQUEST_DURATION:
        return (f"histogram_quantile(0.99, sum by ({_BY_WORKLOAD},le) (rate("
                f"istio_request_duration_milliseconds_bucket{{{selector}}}[{interval}])))")
    raise MetricConfigError(f"{metric_name!r} has no batch query")
