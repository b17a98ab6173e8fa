"""How a workload answers, read from its pod template's annotations.

    lab.canary-operator.dev/error-rate: "0.2"   fraction of requests answered with the error code
    lab.canary-operator.dev/latency-ms: "800"   mean latency in milliseconds
    lab.canary-operator.dev/error-code: "503"   the error status (default 500)
    lab.canary-operator.dev/errors-from-weight: "30"
        the errors only start once the workload takes at least this percentage of its
        route's traffic: a regression that shows only under load (default 0: always)

Latency is lognormal with the given mean and a fixed 20% spread (coefficient of variation
0.2): never negative, skewed to the slow side like real services. With Istio's buckets a
mean of 800 ms puts 11% of requests above 1000 ms, so a P99 read from the histogram is
about 2.4 s; the default 50 ms gives a P99 just under 100 ms. Errors take the same time as
successes. A value that cannot be used is ignored with a warning naming the Deployment, the
annotation, the value and what is allowed; the default stands in for it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from canary_operator.lab.meshsim.labels import ISTIO_DURATION_BUCKETS_MS

ANNOTATION_PREFIX = "lab.canary-operator.dev/"
ERROR_RATE = ANNOTATION_PREFIX + "error-rate"
LATENCY_MS = ANNOTATION_PREFIX + "latency-ms"
ERROR_CODE = ANNOTATION_PREFIX + "error-code"
ERRORS_FROM_WEIGHT = ANNOTATION_PREFIX + "errors-from-weight"

DEFAULT_ERROR_RATE = 0.0
DEFAULT_LATENCY_MS = 50.0
DEFAULT_ERROR_CODE = 500
LATENCY_SPREAD = 0.2


@dataclass(frozen=True)
class Behaviour:
    error_rate: float = DEFAULT_ERROR_RATE
    latency_ms: float = DEFAULT_LATENCY_MS
    error_code: int = DEFAULT_ERROR_CODE
    errors_from_weight: float = 0.0

    def error_rate_at(self, share: float) -> float:
        """The error rate when serving `share` (0..1) of its route's traffic."""
        return self.error_rate if share * 100 >= self.errors_from_weight - 1e-9 else 0.0


HEALTHY = Behaviour()


def behaviour_from_annotations(
    annotations: Mapping[str, str], owner: str = "the workload"
) -> tuple[Behaviour, tuple[str, ...]]:
    """The behaviour the annotations ask for, and a warning for each value ignored.

    `owner` names the object in the warnings, e.g. "Deployment test/podinfo".
    """
    problems: list[str] = []

    def ignored(key: str, value: str, allowed: str, default: object) -> None:
        problems.append(
            f"{owner}: annotation {key} must be {allowed} (got {value!r}); using {default}"
        )

    error_rate = DEFAULT_ERROR_RATE
    if (raw := annotations.get(ERROR_RATE)) is not None:
        number = _number(raw)
        if number is not None and 0 <= number <= 1:
            error_rate = number
        else:
            ignored(ERROR_RATE, raw, "a number between 0 and 1", DEFAULT_ERROR_RATE)

    latency_ms = DEFAULT_LATENCY_MS
    if (raw := annotations.get(LATENCY_MS)) is not None:
        number = _number(raw)
        if number is not None and number >= 0:
            latency_ms = number
        else:
            ignored(LATENCY_MS, raw, "a number of milliseconds >= 0", DEFAULT_LATENCY_MS)

    error_code = DEFAULT_ERROR_CODE
    if (raw := annotations.get(ERROR_CODE)) is not None:
        code = _status_code(raw)
        if code is not None:
            error_code = code
        else:
            ignored(ERROR_CODE, raw, "an HTTP status from 400 to 599", DEFAULT_ERROR_CODE)

    errors_from_weight = 0.0
    if (raw := annotations.get(ERRORS_FROM_WEIGHT)) is not None:
        number = _number(raw)
        if number is not None and 0 <= number <= 100:
            errors_from_weight = number
        else:
            ignored(ERRORS_FROM_WEIGHT, raw, "a percentage between 0 and 100", 0)

    return Behaviour(error_rate, latency_ms, error_code, errors_from_weight), tuple(problems)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _status_code(text: str) -> int | None:
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return value if 400 <= value <= 599 else None


@lru_cache(maxsize=1024)
def bucket_fractions(mean_ms: float, spread: float = LATENCY_SPREAD) -> tuple[float, ...]:
    """The share of requests at or below each of Istio's bucket bounds (the lognormal CDF)."""
    if mean_ms <= 0:
        return tuple(1.0 for _ in ISTIO_DURATION_BUCKETS_MS)
    if spread <= 0:
        return tuple(1.0 if mean_ms <= bound else 0.0 for bound in ISTIO_DURATION_BUCKETS_MS)
    sigma = math.sqrt(math.log1p(spread * spread))
    mu = math.log(mean_ms) - sigma * sigma / 2
    return tuple(
        0.5 * math.erfc(-(math.log(bound) - mu) / (sigma * math.sqrt(2)))
        for bound in ISTIO_DURATION_BUCKETS_MS
    )
