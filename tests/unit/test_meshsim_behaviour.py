"""A workload's behaviour comes from its pod template's annotations."""

from __future__ import annotations

import math

import pytest

from canary_operator.lab.meshsim.behaviour import (
    DEFAULT_ERROR_CODE,
    DEFAULT_LATENCY_MS,
    ERROR_CODE,
    ERROR_RATE,
    HEALTHY,
    LATENCY_MS,
    Behaviour,
    behaviour_from_annotations,
    bucket_fractions,
)
from canary_operator.lab.meshsim.labels import ISTIO_DURATION_BUCKETS_MS


def test_no_annotations_means_a_healthy_fast_workload() -> None:
    behaviour, problems = behaviour_from_annotations({})
    assert behaviour == HEALTHY
    assert behaviour == Behaviour(0.0, DEFAULT_LATENCY_MS, DEFAULT_ERROR_CODE)
    assert problems == ()


def test_reads_error_rate_latency_and_error_code() -> None:
    behaviour, problems = behaviour_from_annotations(
        {ERROR_RATE: "0.2", LATENCY_MS: "800", ERROR_CODE: "503", "other": "x"})
    assert behaviour == Behaviour(error_rate=0.2, latency_ms=800.0, error_code=503)
    assert problems == ()


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        (ERROR_RATE, "1.5", "a number between 0 and 1"),
        (ERROR_RATE, "-0.1", "a number between 0 and 1"),
        (ERROR_RATE, "twenty percent", "a number between 0 and 1"),
        (ERROR_RATE, "nan", "a number between 0 and 1"),
        (LATENCY_MS, "-5", "a number of milliseconds >= 0"),
        (LATENCY_MS, "800ms", "a number of milliseconds >= 0"),
        (LATENCY_MS, "inf", "a number of milliseconds >= 0"),
        (ERROR_CODE, "200", "an HTTP status from 400 to 599"),
        (ERROR_CODE, "5xx", "an HTTP status from 400 to 599"),
    ],
)
def test_a_bad_value_is_ignored_with_a_warning_naming_it(key: str, value: str,
                                                         allowed: str) -> None:
    behaviour, problems = behaviour_from_annotations({key: value},
                                                     owner="Deployment test/podinfo")
    assert behaviour == HEALTHY
    assert problems == (
        f"Deployment test/podinfo: annotation {key} must be {allowed} (got {value!r}); "
        f"using {getattr(HEALTHY, key.rsplit('/', 1)[1].replace('-', '_'))}",
    )


def test_one_bad_value_does_not_discard_the_good_ones() -> None:
    behaviour, problems = behaviour_from_annotations({ERROR_RATE: "0.5", LATENCY_MS: "slow"})
    assert behaviour == Behaviour(error_rate=0.5, latency_ms=DEFAULT_LATENCY_MS)
    assert len(problems) == 1


def test_bucket_fractions_are_a_cdf_over_istios_buckets() -> None:
    fractions = bucket_fractions(800.0)
    assert len(fractions) == len(ISTIO_DURATION_BUCKETS_MS)
    assert list(fractions) == sorted(fractions)
    assert fractions[-1] == pytest.approx(1.0)


def test_800ms_mean_lands_mostly_between_500_and_1000_with_a_slow_tail() -> None:
    at = dict(zip(ISTIO_DURATION_BUCKETS_MS, bucket_fractions(800.0), strict=True))
    assert at[250] == pytest.approx(0.0, abs=1e-6)
    assert at[500] == pytest.approx(0.011, abs=0.002)
    assert at[1000] == pytest.approx(0.89, abs=0.01)
    assert at[2500] == pytest.approx(1.0, abs=1e-6)


def test_the_spread_is_lognormal_with_the_given_mean_and_20_percent_variation() -> None:
    sigma = math.sqrt(math.log(1 + 0.2**2))
    index_of = ISTIO_DURATION_BUCKETS_MS.index
    # The median of a lognormal is mean / sqrt(1 + cv^2): half the requests are faster.
    mean_with_median_100 = 100 * math.sqrt(1 + 0.2**2)
    assert bucket_fractions(mean_with_median_100)[index_of(100)] == pytest.approx(0.5)
    # One sigma above the median holds 84.1% of requests.
    mean_with_median_250_over_e_sigma = 250 / math.exp(sigma) * math.sqrt(1 + 0.2**2)
    assert bucket_fractions(mean_with_median_250_over_e_sigma)[index_of(250)] == (
        pytest.approx(0.8413, abs=1e-4))


def test_zero_latency_is_all_in_the_first_bucket() -> None:
    assert bucket_fractions(0.0) == tuple(1.0 for _ in ISTIO_DURATION_BUCKETS_MS)


def test_zero_spread_is_a_step_at_the_mean() -> None:
    fractions = bucket_fractions(800.0, spread=0.0)
    at = dict(zip(ISTIO_DURATION_BUCKETS_MS, fractions, strict=True))
    assert (at[500], at[1000]) == (0.0, 1.0)


def test_errors_from_weight_is_read_and_bounded() -> None:
    behaviour, problems = behaviour_from_annotations(
        {"lab.canary-operator.dev/error-rate": "0.5",
         "lab.canary-operator.dev/errors-from-weight": "30"})
    assert problems == ()
    assert (behaviour.error_rate_at(0.2), behaviour.error_rate_at(0.3)) == (0.0, 0.5)
    _, problems = behaviour_from_annotations({"lab.canary-operator.dev/errors-from-weight": "130"})
    assert "between 0 and 100" in problems[0]
