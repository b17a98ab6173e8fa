"""The ledger's series in Prometheus' text exposition format (version 0.0.4).

Written by hand rather than through prometheus_client so the lab needs no extra runtime
dependency and a scrape costs one pass over the counts. Bucket bounds are written as Envoy
writes them (`le="1000"`, `le="+Inf"`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from canary_operator.lab.meshsim.labels import (
    INGRESS_GATEWAY,
    ISTIO_DURATION_BUCKETS_MS,
    REPORTERS,
    Peer,
    series_labels,
)
from canary_operator.lab.meshsim.ledger import SeriesCounts, SeriesKey

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REQUESTS_TOTAL = "istio_requests_total"
REQUEST_DURATION = "istio_request_duration_milliseconds"
_BUCKET_BOUNDS = (*(str(bound) for bound in ISTIO_DURATION_BUCKETS_MS), "+Inf")


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Exposition:
    """Renders series as both sidecars (or only the reporters asked for) would report them."""

    def __init__(self, source: Peer = INGRESS_GATEWAY,
                 reporters: Sequence[str] = REPORTERS) -> None:
        unknown = set(reporters) - set(REPORTERS)
        if unknown or not reporters:
            raise ValueError(f"reporters must be some of {REPORTERS} (got {tuple(reporters)})")
        self.source = source
        self.reporters = tuple(reporters)
        self._labels: dict[SeriesKey, tuple[str, ...]] = {}

    def _label_texts(self, key: SeriesKey) -> tuple[str, ...]:
        texts = self._labels.get(key)
        if texts is None:
            texts = self._labels[key] = tuple(
                ",".join(
                    f'{name}="{escape_label_value(value)}"'
                    for name, value in series_labels(
                        reporter, self.source, key.destination, key.service,
                        key.response_code, key.response_flags,
                    ).items()
                )
                for reporter in self.reporters
                if reporter in key.reporters
            )
        return texts

    def render(self, series: Iterable[tuple[SeriesKey, SeriesCounts]]) -> str:
        # Series with the same labels (a workload's routed and shadowed requests, as its
        # destination sidecar reports them) are one series: their counts add up.
        by_labels: dict[str, list[SeriesCounts]] = {}
        for key, counts in series:
            for labels in self._label_texts(key):
                by_labels.setdefault(labels, []).append(counts)
        lines = [
            f"# HELP {REQUESTS_TOTAL} Requests answered (mesh simulator, a stand-in for Envoy)",
            f"# TYPE {REQUESTS_TOTAL} counter",
        ]
        lines.extend(f"{REQUESTS_TOTAL}{{{labels}}} {sum(c.requests for c in parts)}"
                     for labels, parts in by_labels.items())
        lines += [
            f"# HELP {REQUEST_DURATION} Request duration in milliseconds (mesh simulator)",
            f"# TYPE {REQUEST_DURATION} histogram",
        ]
        for labels, parts in by_labels.items():
            requests = sum(c.requests for c in parts)
            cumulative = [*(sum(column) for column in zip(*(c.buckets() for c in parts),
                                                          strict=True)), requests]
            lines.extend(
                f'{REQUEST_DURATION}_bucket{{{labels},le="{bound}"}} {value}'
                for bound, value in zip(_BUCKET_BOUNDS, cumulative, strict=True)
            )
            latency_sum = sum(c.latency_sum_ms for c in parts)
            lines.append(f"{REQUEST_DURATION}_sum{{{labels}}} {latency_sum!r}")
            lines.append(f"{REQUEST_DURATION}_count{{{labels}}} {requests}")
        lines.append("")
        return "\n".join(lines)
