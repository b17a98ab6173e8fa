"""The operator's own Prometheus metrics.

Flagger's series first, with its names, types and label sets, so its dashboards, alerts
and recording rules keep working: `flagger_info`, `flagger_canary_total`,
`flagger_canary_status`, `flagger_canary_weight`, `flagger_canary_metric_analysis`,
`flagger_canary_duration_seconds`, `flagger_canary_successes_total` and
`flagger_canary_failures_total`. The label `name` is the Canary's `targetRef.name`, as in
Flagger. Then a few of our own that explain decisions: `canary_operator_decisions_total`
(by reason code), `canary_operator_failed_checks` and
`canary_operator_metric_no_data_total`. Every label value is a name or a short code: no
queries, no free text.

A `Telemetry` owns its registry (never the process-wide one), so tests make as many as
they like; `serve_metrics` exposes it over HTTP. This package depends only on the
standard library, prometheus_client, aiohttp and `canary_operator.api`.
"""

from canary_operator.telemetry.recorder import (
    ANALYSIS_STATUSES,
    DURATION_BUCKETS,
    OTHER_REASON,
    STRATEGIES,
    Telemetry,
    operator_version,
    strategy_of,
)
from canary_operator.telemetry.server import MetricsEndpoint, serve_metrics

__all__ = [
    "ANALYSIS_STATUSES",
    "DURATION_BUCKETS",
    "OTHER_REASON",
    "STRATEGIES",
    "MetricsEndpoint",
    "Telemetry",
    "operator_version",
    "serve_metrics",
    "strategy_of",
]
