"""The engine follows the cluster as the watches report it, tick by tick."""

from __future__ import annotations

import logging
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from canary_operator.lab.meshsim import Engine
from canary_operator.lab.meshsim.inventory import Kind
from tests.unit.test_meshsim_objects import deployment_json, service_json, vs_json

BAD_RELEASE = {"lab.canary-operator.dev/error-rate": "0.2",
               "lab.canary-operator.dev/latency-ms": "800"}


def destination_requests(engine: Engine) -> dict[tuple[str, str], float]:
    """Requests per (destination_workload, response_code) reported by the destination."""
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(engine.metrics_text()):
        for s in family.samples:
            if s.name == "istio_requests_total" and s.labels["reporter"] == "destination":
                found[s.labels["destination_workload"], s.labels["response_code"]] = s.value
    return found


def lab_canary(primary: int = 90, canary: int = 10, rps: float = 20) -> Engine:
    engine = Engine(rps=rps)
    for kind, obj in (
        (Kind.SERVICE, service_json("test", "podinfo-primary", {"app": "podinfo-primary"})),
        (Kind.SERVICE, service_json("test", "podinfo-canary", {"app": "podinfo"})),
        (Kind.DEPLOYMENT, deployment_json("test", "podinfo-primary")),
        (Kind.DEPLOYMENT, deployment_json("test", "podinfo", annotations=BAD_RELEASE)),
        (Kind.VIRTUAL_SERVICE, vs_json("test", "podinfo", ("podinfo-primary", primary),
                                       ("podinfo-canary", canary))),
    ):
        engine.inventory.apply(kind, "ADDED", obj)
    return engine


def run(engine: Engine, seconds: float, tick: float = 0.25) -> None:
    for _ in range(round(seconds / tick)):
        engine.step(tick)


def test_serves_the_live_split_and_the_canarys_errors() -> None:
    engine = lab_canary()
    run(engine, 10)
    assert destination_requests(engine) == {
        ("podinfo-primary", "200"): 180, ("podinfo", "200"): 16, ("podinfo", "500"): 4}


def test_a_weight_change_shows_in_the_metrics_after_one_tick() -> None:
    engine = lab_canary()
    run(engine, 1)
    engine.inventory.apply(Kind.VIRTUAL_SERVICE, "MODIFIED", vs_json(
        "test", "podinfo", ("podinfo-primary", 50), ("podinfo-canary", 50)))
    before = destination_requests(engine)
    engine.step(0.5)
    after = destination_requests(engine)
    served = after["podinfo", "200"] + after["podinfo", "500"]
    assert served - before["podinfo", "200"] - before["podinfo", "500"] == 5


def test_changing_the_pod_template_changes_how_the_workload_answers() -> None:
    engine = lab_canary(50, 50)
    run(engine, 5)
    assert destination_requests(engine)["podinfo", "500"] == 10
    engine.inventory.apply(Kind.DEPLOYMENT, "MODIFIED", deployment_json("test", "podinfo"))
    run(engine, 10)
    assert destination_requests(engine)["podinfo", "500"] == 10
    assert destination_requests(engine)["podinfo", "200"] == 40 + 100
    (canary,) = [w for w in engine.snapshot().workloads if w.name == "podinfo"]
    assert canary.behaviour.error_rate == 0


def test_a_workload_scaled_to_zero_stops_answering() -> None:
    engine = lab_canary(50, 50)
    engine.inventory.apply(Kind.DEPLOYMENT, "MODIFIED",
                           deployment_json("test", "podinfo", available=0))
    run(engine, 2)
    assert ("podinfo", "200") not in destination_requests(engine)
    canary_route = engine.snapshot().virtual_services[0].routes[1]
    assert (canary_route.response_flags, canary_route.workloads) == ("UH", ())
    assert canary_route.requests == canary_route.errors == 20


def test_a_deleted_virtual_service_sends_no_more_requests() -> None:
    engine = lab_canary(100, 0)
    run(engine, 1)
    engine.inventory.apply(Kind.VIRTUAL_SERVICE, "DELETED", vs_json("test", "podinfo"))
    run(engine, 1)
    assert destination_requests(engine)["podinfo-primary", "200"] == 20
    assert engine.snapshot().virtual_services == ()


def test_a_relist_forgets_objects_that_are_gone() -> None:
    engine = lab_canary(100, 0)
    run(engine, 1)
    engine.inventory.replace(Kind.VIRTUAL_SERVICE, "test", [])
    run(engine, 1)
    assert engine.snapshot().virtual_services == ()


def test_a_service_in_another_namespace_is_followed_when_it_changes() -> None:
    engine = Engine(rps=10)
    engine.inventory.apply(Kind.VIRTUAL_SERVICE, "ADDED",
                           vs_json("front", "shop", ("backend.back.svc.cluster.local", None)))
    run(engine, 1)
    assert engine.snapshot().virtual_services[0].routes[0].response_flags == "NC"
    engine.inventory.apply(Kind.SERVICE, "ADDED", service_json("back", "backend",
                                                               {"app": "backend"}))
    engine.inventory.apply(Kind.DEPLOYMENT, "ADDED", deployment_json("back", "backend"))
    run(engine, 1)
    assert destination_requests(engine) == {("backend", "200"): 10}


def test_a_bad_annotation_is_warned_about_once_not_at_every_status_update(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = Engine(rps=20)
    bad = deployment_json("test", "podinfo",
                          annotations={"lab.canary-operator.dev/latency-ms": "fast"})
    with caplog.at_level(logging.WARNING):
        engine.inventory.apply(Kind.DEPLOYMENT, "ADDED", bad)
        engine.inventory.apply(Kind.DEPLOYMENT, "MODIFIED", bad)
        engine.inventory.replace(Kind.DEPLOYMENT, None, [bad])
    assert [r.getMessage() for r in caplog.records] == [
        "Deployment test/podinfo: annotation lab.canary-operator.dev/latency-ms must be "
        "a number of milliseconds >= 0 (got 'fast'); using 50.0"
    ]


def test_thousands_of_virtual_services_keep_up_with_the_tick() -> None:
    engine = Engine(rps=20)
    for i in range(2000):
        ns = f"ns-{i}"
        engine.inventory.apply(Kind.SERVICE, "ADDED", service_json(ns, "a-primary",
                                                                   {"app": "a-primary"}))
        engine.inventory.apply(Kind.SERVICE, "ADDED", service_json(ns, "a-canary",
                                                                   {"app": "a"}))
        engine.inventory.apply(Kind.DEPLOYMENT, "ADDED", deployment_json(ns, "a-primary"))
        engine.inventory.apply(Kind.DEPLOYMENT, "ADDED",
                               deployment_json(ns, "a", annotations=BAD_RELEASE))
        engine.inventory.apply(Kind.VIRTUAL_SERVICE, "ADDED",
                               vs_json(ns, "a", ("a-primary", 90), ("a-canary", 10)))
    engine.step(0.0)  # resolves all 2,000
    started = time.perf_counter()
    for _ in range(20):
        engine.step(0.25)
    per_tick = (time.perf_counter() - started) / 20
    assert per_tick < 0.1, f"a tick over 2,000 VirtualServices took {per_tick * 1000:.0f} ms"
    snapshot = engine.snapshot()
    assert sum(w.requests for w in snapshot.workloads) == 2000 * 20 * 5  # 20 ticks of 0.25 s
