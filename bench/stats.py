"""Percentiles, spreads and Prometheus histograms: the arithmetic of the report."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from prometheus_client.parser import text_string_to_metric_families


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread(values: Sequence[float]) -> tuple[float, float, float]:
    """(median, min, max) of the repetitions."""
    clean = [v for v in values if not math.isnan(v)]
    if not clean:
        return math.nan, math.nan, math.nan
    return statistics.median(clean), min(clean), max(clean)


def histogram_quantile(text: str, name: str, q: float) -> float:
    """Like PromQL's histogram_quantile over every series of histogram `name` summed:
    linear within the bucket that holds the q-quantile (0..1)."""
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name == f"{name}_bucket":
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    if not buckets:
        return math.nan
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return math.nan
    wanted = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= wanted:
            if math.isinf(bound):
                return previous_bound
            share = (wanted - previous_count) / (count - previous_count) if count > \
                previous_count else 0.0
            return previous_bound + (bound - previous_bound) * share
        previous_bound, previous_count = bound, count
    return bounds[-1]
