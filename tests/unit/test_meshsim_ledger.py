"""The request stream is counted exactly: weights, error rates and latency buckets."""

from __future__ import annotations

import itertools
import random

import pytest

from canary_operator.lab.meshsim.labels import ISTIO_DURATION_BUCKETS_MS, REPORTERS
from canary_operator.lab.meshsim.ledger import Ledger, SeriesCounts
from canary_operator.lab.meshsim.objects import virtual_service_from
from canary_operator.lab.meshsim.routing import resolve
from tests.unit.test_meshsim_objects import deployment_json, service_json, vs_json
from tests.unit.test_meshsim_routing import FakeCluster


def podinfo(canary_annotations: dict[str, str] | None = None,
            canary_available: int = 1) -> FakeCluster:
    return FakeCluster(
        service_json("test", "podinfo-primary", {"app": "podinfo-primary"}),
        service_json("test", "podinfo-canary", {"app": "podinfo"}),
        deployment_json("test", "podinfo-primary"),
        deployment_json("test", "podinfo", available=canary_available,
                        annotations=canary_annotations),
    )


def route(ledger: Ledger, cluster: FakeCluster, primary: int, canary: int) -> None:
    vs = virtual_service_from(vs_json("test", "podinfo", ("podinfo-primary", primary),
                                      ("podinfo-canary", canary)))
    ledger.set_routes(vs, resolve(vs, cluster))


def requests_by(ledger: Ledger) -> dict[tuple[str, str], int]:
    """Requests per (workload, response code), as the destination reports them."""
    found: dict[tuple[str, str], int] = {}
    for key, counts in ledger.series():
        name = (key.destination.workload, key.response_code)
        found[name] = found.get(name, 0) + counts.requests
    return found


def test_weights_90_10_at_20_rps_give_18_and_2_requests_a_second() -> None:
    ledger = Ledger(rps=20)
    route(ledger, podinfo(), 90, 10)
    for second in range(1, 31):
        for _ in range(4):
            ledger.advance(0.25)
        counts = requests_by(ledger)
        assert counts["podinfo-primary", "200"] == pytest.approx(18 * second, abs=1)
        assert counts["podinfo", "200"] == pytest.approx(2 * second, abs=1)


def test_the_split_matches_the_weights_whatever_the_tick_lengths() -> None:
    ticks = random.Random(7)
    ledger = Ledger(rps=20)
    route(ledger, podinfo(), 70, 30)
    elapsed = 0.0
    for _ in range(2000):
        step = ticks.uniform(0.01, 0.6)
        ledger.advance(step)
        elapsed += step
    counts = requests_by(ledger)
    assert counts["podinfo-primary", "200"] == pytest.approx(20 * 0.7 * elapsed, abs=1)
    assert counts["podinfo", "200"] == pytest.approx(20 * 0.3 * elapsed, abs=1)


def test_error_rate_0_2_answers_one_request_in_five_with_the_error_code() -> None:
    ledger = Ledger(rps=20)
    route(ledger, podinfo({"lab.canary-operator.dev/error-rate": "0.2",
                           "lab.canary-operator.dev/error-code": "503"}), 50, 50)
    for _ in range(400):  # 100 s: 1000 requests to the canary
        ledger.advance(0.25)
    counts = requests_by(ledger)
    assert counts["podinfo", "503"] == pytest.approx(200, abs=1)
    assert counts["podinfo", "200"] == pytest.approx(800, abs=1)
    assert ("podinfo-primary", "503") not in counts


def test_fractions_of_a_request_carry_over_across_ticks_and_weight_changes() -> None:
    ledger = Ledger(rps=1)
    cluster = podinfo()
    route(ledger, cluster, 50, 50)
    ledger.advance(1.5)  # 0.75 requests owed to each destination: none sent yet
    assert sum(requests_by(ledger).values()) == 0
    route(ledger, cluster, 50, 50)  # re-resolved: the fractions are kept
    ledger.advance(0.5)
    assert requests_by(ledger) == {("podinfo-primary", "200"): 1, ("podinfo", "200"): 1}


def test_a_weight_change_takes_effect_at_the_next_tick() -> None:
    ledger = Ledger(rps=20)
    cluster = podinfo()
    route(ledger, cluster, 100, 0)
    ledger.advance(1.0)
    assert requests_by(ledger)["podinfo", "200"] == 0
    route(ledger, cluster, 50, 50)
    ledger.advance(1.0)
    assert requests_by(ledger)["podinfo", "200"] == 10


def test_no_healthy_upstream_is_a_503_only_the_source_reports() -> None:
    ledger = Ledger(rps=20)
    route(ledger, podinfo(canary_available=0), 90, 10)
    ledger.advance(1.0)
    failed = [(key, counts) for key, counts in ledger.series() if key.response_code == "503"]
    assert len(failed) == 1
    key, counts = failed[0]
    assert (key.destination.workload, key.response_flags, key.reporters) == (
        "unknown", "UH", ("source",))
    assert counts.requests == 2
    served = [key for key, _ in ledger.series() if key.response_code == "200"]
    assert all(key.reporters == REPORTERS for key in served)


def test_series_exist_at_zero_before_the_first_request_or_error() -> None:
    ledger = Ledger(rps=20)
    route(ledger, podinfo({"lab.canary-operator.dev/error-rate": "0.1"}), 100, 0)
    assert requests_by(ledger) == {("podinfo-primary", "200"): 0, ("podinfo", "200"): 0,
                                   ("podinfo", "500"): 0}


def test_latency_lands_in_the_buckets_of_its_distribution() -> None:
    counts = SeriesCounts()
    counts.add(1000, 800.0)
    at = dict(zip(ISTIO_DURATION_BUCKETS_MS, counts.buckets(), strict=True))
    assert (at[250], at[500], at[2500], at[3600000]) == (0, 11, 1000, 1000)
    assert 880 <= at[1000] <= 900
    assert counts.latency_sum_ms == 800_000


def test_buckets_never_decrease_across_bounds_or_over_time_as_behaviour_changes() -> None:
    counts = SeriesCounts()
    history: list[list[int]] = []
    means = [50.0, 800.0, 10.0, 2600.0, 0.0]
    for step in range(500):
        counts.add(step % 7, means[step % len(means)])
        buckets = counts.buckets()
        assert buckets == sorted(buckets)
        assert buckets[-1] <= counts.requests
        history.append(buckets)
    for before, after in itertools.pairwise(history):
        assert all(b <= a for b, a in zip(before, after, strict=True))


def test_removing_a_virtual_service_stops_its_traffic_but_keeps_its_counters() -> None:
    ledger = Ledger(rps=20)
    route(ledger, podinfo(), 100, 0)
    ledger.advance(1.0)
    ledger.remove("test", "podinfo")
    ledger.advance(1.0)
    assert requests_by(ledger)["podinfo-primary", "200"] == 20


def test_snapshot_shows_weights_and_per_workload_counts() -> None:
    ledger = Ledger(rps=20)
    route(ledger, podinfo({"lab.canary-operator.dev/error-rate": "0.5"}), 80, 20)
    ledger.advance(10.0)
    snapshot = ledger.snapshot()
    (vs,) = snapshot.virtual_services
    assert [(r.host, r.weight, r.workloads, r.requests, r.errors) for r in vs.routes] == [
        ("podinfo-primary", 80, ("podinfo-primary",), 160, 0),
        ("podinfo-canary", 20, ("podinfo",), 40, 20),
    ]
    assert {(w.name, w.requests, w.errors) for w in snapshot.workloads} == {
        ("podinfo-primary", 160, 0), ("podinfo", 40, 20)}
    as_dict = snapshot.as_dict()
    assert as_dict["workloads"]["test/podinfo"]["error_rate"] == 0.5
    assert as_dict["virtual_services"]["test/podinfo"][1]["weight"] == 20


def test_rps_must_be_a_finite_non_negative_number() -> None:
    with pytest.raises(ValueError, match="rps must be a finite number >= 0"):
        Ledger(rps=-1)


def test_a_load_bound_regression_errs_only_from_its_weight_on() -> None:
    ledger = Ledger(rps=20)
    annotations = {"lab.canary-operator.dev/error-rate": "0.5",
                   "lab.canary-operator.dev/errors-from-weight": "30"}
    cluster = podinfo(annotations)
    route(ledger, cluster, 80, 20)
    for _ in range(40):  # 10 s at 20%: below the threshold
        ledger.advance(0.25)
    assert ("podinfo", "500") not in requests_by(ledger) or \
        requests_by(ledger)["podinfo", "500"] == 0
    route(ledger, cluster, 70, 30)
    for _ in range(40):  # 10 s at 30%: 60 requests, half of them errors
        ledger.advance(0.25)
    assert requests_by(ledger)["podinfo", "500"] == pytest.approx(30, abs=1)
