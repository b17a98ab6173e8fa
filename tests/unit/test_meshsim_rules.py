"""The simulator follows a VirtualService's rules as Envoy would: A/B match rules take the
annotated share of the requests, cookie rules none, mirrors shadow requests to the canary's
destination sidecar. The VirtualServices are the ones the Istio router writes."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from canary_operator.api import Canary
from canary_operator.lab.meshsim import Engine
from canary_operator.lab.meshsim.inventory import Kind
from canary_operator.lab.meshsim.objects import (
    MATCH_SHARE,
    HttpRule,
    Route,
    virtual_service_from,
)
from canary_operator.lab.meshsim.routing import resolve, rule_shares
from canary_operator.routers import AffinityCookies, Routes, build_virtual_service
from tests.unit.test_meshsim_objects import deployment_json, service_json
from tests.unit.test_meshsim_routing import flagger_pair

PRIMARY, CANARY = "podinfo-primary", "podinfo-canary"
INSIDERS = {"headers": {"x-canary": {"exact": "insider"}}}


def make_canary(analysis: dict[str, Any], **service: Any) -> Canary:
    return Canary.model_validate({
        "metadata": {"name": "podinfo", "namespace": "test", "uid": "u"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898, **service},
            "analysis": {"interval": "10s", "threshold": 2, **analysis},
        },
    })


def ab_vs(routes: Routes, share: str | None = None, **service: Any) -> dict[str, Any]:
    vs = build_virtual_service(make_canary({"iterations": 5, "match": [INSIDERS]}, **service),
                               routes)
    if share is not None:
        vs["metadata"]["annotations"][MATCH_SHARE] = share
    return vs


def mirrored_vs(routes: Routes, mirror_weight: int | None = None) -> dict[str, Any]:
    analysis: dict[str, Any] = {"iterations": 5, "mirror": True}
    if mirror_weight is not None:
        analysis["mirrorWeight"] = mirror_weight
    return build_virtual_service(make_canary(analysis), routes)


def sticky_vs(routes: Routes, cookies: AffinityCookies) -> dict[str, Any]:
    canary = make_canary({"stepWeight": 10, "sessionAffinity": {
        "cookieName": "flagger-cookie", "primaryCookieName": "primary-cookie"}},
        match=[{"uri": {"prefix": "/"}}])
    return build_virtual_service(canary, routes, cookies)


def engine_for(vs: dict[str, Any], rps: float = 20) -> Engine:
    engine = Engine(rps=rps)
    for kind, obj in (
        (Kind.SERVICE, service_json("test", PRIMARY, {"app": PRIMARY})),
        (Kind.SERVICE, service_json("test", CANARY, {"app": "podinfo"})),
        (Kind.DEPLOYMENT, deployment_json("test", PRIMARY)),
        (Kind.DEPLOYMENT, deployment_json("test", "podinfo", annotations={
            "lab.canary-operator.dev/error-rate": "0.5"})),
        (Kind.VIRTUAL_SERVICE, vs),
    ):
        engine.inventory.apply(kind, "ADDED", obj)
    return engine


def run(engine: Engine, seconds: float, tick: float = 0.25) -> None:
    for _ in range(round(seconds / tick)):
        engine.step(tick)


def requests(engine: Engine, reporter: str) -> Counter[str]:
    """Requests per destination_workload as `reporter` reports them."""
    found: Counter[str] = Counter()
    for family in text_string_to_metric_families(engine.metrics_text()):
        for sample in family.samples:
            if sample.name == "istio_requests_total" and sample.labels["reporter"] == reporter:
                found[sample.labels["destination_workload"]] += int(sample.value)
    return found


# -- reading the rules ----------------------------------------------------------------------


def test_reads_every_rule_with_its_match_and_the_default_rule() -> None:
    vs = virtual_service_from(ab_vs(Routes(0, 100)))
    assert vs.rules == (
        HttpRule((Route(PRIMARY, 0), Route(CANARY, 100)), matches=True),
        HttpRule((Route(PRIMARY, 100),)),
    )
    assert vs.default_rule == 1
    assert vs.routes == (Route(PRIMARY, 100),)
    assert vs.match_share == 10


def test_with_a_service_match_the_last_rule_is_the_default() -> None:
    vs = virtual_service_from(ab_vs(Routes(0, 100), match=[{"uri": {"prefix": "/api"}}]))
    assert [rule.matches for rule in vs.rules] == [True, True]
    assert vs.default_rule == 1


@pytest.mark.parametrize(("mirror_weight", "percent"), [(None, 100.0), (30, 30.0)])
def test_reads_the_mirror_and_its_percentage(mirror_weight: int | None,
                                             percent: float) -> None:
    (rule,) = virtual_service_from(mirrored_vs(Routes(100, 0, mirrored=True),
                                               mirror_weight)).rules
    assert (rule.mirror, rule.mirror_percent) == (CANARY, percent)
    (plain,) = virtual_service_from(mirrored_vs(Routes(100, 0), mirror_weight)).rules
    assert plain.mirror is None


def test_rules_matching_only_on_a_cookie_are_told_apart() -> None:
    vs = virtual_service_from(sticky_vs(Routes(90, 10), AffinityCookies(
        "flagger-cookie=a", "primary-cookie=b", "flagger-cookie=c")))
    assert [(rule.matches, rule.on_cookie) for rule in vs.rules] == [
        (True, True), (True, True), (True, True), (True, False)]
    assert vs.default_rule == 3


def test_the_match_share_annotation_is_read_and_a_bad_one_ignored_with_a_warning(
    caplog: pytest.LogCaptureFixture
) -> None:
    assert virtual_service_from(ab_vs(Routes(0, 100), "25")).match_share == 25
    bad = virtual_service_from(ab_vs(Routes(0, 100), "lots"))
    assert bad.match_share == 10
    assert bad.problems == (f"VirtualService test/podinfo: annotation {MATCH_SHARE} must be "
                            "a percentage between 0 and 100 (got 'lots'); using 10",)
    engine = Engine(rps=20)
    with caplog.at_level(logging.WARNING):
        engine.inventory.apply(Kind.VIRTUAL_SERVICE, "ADDED", ab_vs(Routes(0, 100), "150"))
        engine.inventory.apply(Kind.VIRTUAL_SERVICE, "MODIFIED", ab_vs(Routes(0, 100), "150"))
    assert [r.getMessage() for r in caplog.records].count(
        f"VirtualService test/podinfo: annotation {MATCH_SHARE} must be a percentage "
        "between 0 and 100 (got '150'); using 10") == 1


# -- where the requests go -------------------------------------------------------------------


def test_an_ab_match_rule_takes_the_match_share_of_the_requests() -> None:
    assert rule_shares(virtual_service_from(ab_vs(Routes(0, 100)))) == [0.1, 0.9]
    assert rule_shares(virtual_service_from(ab_vs(Routes(0, 100), "25"))) == [0.25, 0.75]
    shares = Counter[str]()
    for target in resolve(virtual_service_from(ab_vs(Routes(0, 100))), flagger_pair()):
        shares[target.host] += target.share
    assert shares == {PRIMARY: pytest.approx(0.9), CANARY: pytest.approx(0.1)}


def test_cookie_rules_get_no_requests_and_the_weighted_rule_all() -> None:
    vs = virtual_service_from(sticky_vs(Routes(90, 10), AffinityCookies(
        "flagger-cookie=a", "primary-cookie=b")))
    assert rule_shares(vs) == [0.0, 0.0, 1.0]
    assert {(t.rule, t.host): t.share for t in resolve(vs, flagger_pair())} == {
        (2, PRIMARY): 0.9, (2, CANARY): 0.1}


def test_a_mirror_is_a_target_of_its_own_with_the_mirrored_share() -> None:
    vs = virtual_service_from(mirrored_vs(Routes(100, 0, mirrored=True), 40))
    targets = resolve(vs, flagger_pair())
    assert [(t.host, t.share, t.mirrored) for t in targets] == [
        (PRIMARY, 1.0, False), (CANARY, 0.0, False), (CANARY, 0.4, True)]
    scaled_down = resolve(vs, flagger_pair(canary_available=0))
    assert [t.mirrored for t in scaled_down] == [False, False]  # Envoy drops the shadow


def test_an_ab_canary_receives_traffic_in_the_lab() -> None:
    engine = engine_for(ab_vs(Routes(0, 100)))
    run(engine, 10)
    assert requests(engine, "destination") == {PRIMARY: 180, "podinfo": 20}
    engine.inventory.apply(Kind.VIRTUAL_SERVICE, "MODIFIED", ab_vs(Routes(100, 0)))
    run(engine, 10)
    assert requests(engine, "destination") == {PRIMARY: 380, "podinfo": 20}


def test_mirrored_requests_count_at_the_canarys_destination_only() -> None:
    engine = engine_for(mirrored_vs(Routes(100, 0, mirrored=True), 50))
    run(engine, 10)
    assert requests(engine, "destination") == {PRIMARY: 200, "podinfo": 100}
    assert requests(engine, "source") == {PRIMARY: 200, "podinfo": 0}
    (canary,) = [w for w in engine.snapshot().workloads if w.name == "podinfo"]
    assert (canary.requests, canary.errors) == (100, 50)


def test_a_canary_both_routed_and_mirrored_to_is_one_series_per_reporter() -> None:
    engine = engine_for(mirrored_vs(Routes(90, 10, mirrored=True)))
    run(engine, 10)
    assert requests(engine, "destination") == {PRIMARY: 180, "podinfo": 20 + 200}
    assert requests(engine, "source") == {PRIMARY: 180, "podinfo": 20}
    label_sets = [
        tuple(sorted(sample.labels.items()))
        for family in text_string_to_metric_families(engine.metrics_text())
        for sample in family.samples if sample.name == "istio_requests_total"
    ]
    assert len(label_sets) == len(set(label_sets))
    buckets = {
        sample.labels["le"]: sample.value
        for family in text_string_to_metric_families(engine.metrics_text())
        for sample in family.samples
        if sample.name == "istio_request_duration_milliseconds_bucket"
        and sample.labels["destination_workload"] == "podinfo"
        and sample.labels["reporter"] == "destination"
        and sample.labels["response_code"] == "500"
    }
    assert buckets["+Inf"] == 110


def test_turning_the_mirror_off_stops_the_shadow_requests() -> None:
    engine = engine_for(mirrored_vs(Routes(100, 0, mirrored=True)))
    run(engine, 5)
    engine.inventory.apply(Kind.VIRTUAL_SERVICE, "MODIFIED", mirrored_vs(Routes(100, 0)))
    run(engine, 5)
    assert requests(engine, "destination") == {PRIMARY: 200, "podinfo": 100}


def test_the_snapshot_shows_each_rule_and_its_mirror() -> None:
    engine = engine_for(mirrored_vs(Routes(90, 10, mirrored=True), 50))
    run(engine, 10)
    (vs,) = engine.snapshot().virtual_services
    assert [(r.rule, r.host, r.weight, r.mirror, r.requests) for r in vs.routes] == [
        (0, PRIMARY, 90, False, 180), (0, CANARY, 10, False, 20), (0, CANARY, 50, True, 100)]
    ab = engine_for(ab_vs(Routes(0, 100)))
    run(ab, 10)
    (vs,) = ab.snapshot().virtual_services
    assert [(r.rule, r.host, r.weight, r.requests) for r in vs.routes] == [
        (0, PRIMARY, 0, 0), (0, CANARY, 100, 20), (1, PRIMARY, 100, 180)]
