"""The Istio router's pure parts: DestinationRules, the VirtualService, the patches that
reconcile it without touching the live routes, the route patch itself, and every shape of
the `http` rules: canary, A/B testing, mirroring and session affinity."""

from __future__ import annotations

import copy
from typing import Any, cast

import pytest
from kubernetes.aio.client import ApiClient

from canary_operator.api import Canary
from canary_operator.kube import ROUTER_ANNOTATIONS
from canary_operator.routers import (
    AffinityCookies,
    IstioRouter,
    Router,
    RouterError,
    Routes,
    build_destination_rules,
    build_http,
    build_routes_patch,
    build_virtual_service,
    merge_match_conditions,
    read_affinity,
    read_routes,
    validate_weights,
)
from canary_operator.routers.istio import build_virtual_service_patch

UID = "5b2a0c1e-0000-4000-8000-000000000002"


def make_canary(analysis: dict[str, Any] | None = None, **service: Any) -> Canary:
    spec: dict[str, Any] = {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "service": {"port": 9898, **service},
    }
    if analysis is not None:
        spec["analysis"] = {"interval": "30s", "threshold": 5, **analysis}
    return Canary.model_validate({
        "metadata": {"name": "podinfo", "namespace": "test", "uid": UID}, "spec": spec})


def as_live(desired: dict[str, Any], resource_version: str = "100") -> dict[str, Any]:
    live = copy.deepcopy(desired)
    live["metadata"].update({"resourceVersion": resource_version, "generation": 1,
                             "uid": "vs-uid"})
    return live


# -- DestinationRules ---------------------------------------------------------------------


def test_destination_rules_are_canary_then_primary_for_their_own_hosts() -> None:
    policy = {"tls": {"mode": "ISTIO_MUTUAL"}, "loadBalancer": {"simple": "LEAST_REQUEST"}}
    rules = build_destination_rules(make_canary(trafficPolicy=policy))
    assert [r["metadata"]["name"] for r in rules] == ["podinfo-canary", "podinfo-primary"]
    for rule in rules:
        assert rule["apiVersion"] == "networking.istio.io/v1beta1"
        assert rule["kind"] == "DestinationRule"
        assert rule["metadata"]["namespace"] == "test"
        assert rule["spec"] == {"host": rule["metadata"]["name"], "trafficPolicy": policy}
        assert rule["metadata"]["annotations"] == dict(ROUTER_ANNOTATIONS)
        assert rule["metadata"]["ownerReferences"][0]["uid"] == UID


def test_destination_rules_have_no_traffic_policy_unless_given() -> None:
    for rule in build_destination_rules(make_canary()):
        assert "trafficPolicy" not in rule["spec"]


# -- the VirtualService -------------------------------------------------------------------


def test_virtual_service_defaults_to_the_apex_host_on_the_mesh_gateway() -> None:
    vs = build_virtual_service(make_canary())
    assert vs["apiVersion"] == "networking.istio.io/v1beta1"
    assert vs["kind"] == "VirtualService"
    assert vs["metadata"]["name"] == "podinfo"
    assert vs["spec"]["hosts"] == ["podinfo"]
    assert vs["spec"]["gateways"] == ["mesh"]
    assert vs["spec"]["http"] == [{"route": [
        {"destination": {"host": "podinfo-primary"}, "weight": 100},
        {"destination": {"host": "podinfo-canary"}, "weight": 0},
    ]}]


def test_virtual_service_adds_the_apex_host_unless_present_or_wildcard() -> None:
    hosts = build_virtual_service(make_canary(hosts=["app.example.com"]))["spec"]["hosts"]
    assert hosts == ["app.example.com", "podinfo"]
    assert build_virtual_service(make_canary(hosts=["podinfo", "a"]))["spec"]["hosts"] == [
        "podinfo", "a"]
    assert build_virtual_service(make_canary(hosts=["*"]))["spec"]["hosts"] == ["*"]


def test_virtual_service_uses_the_given_gateways() -> None:
    vs = build_virtual_service(make_canary(gateways=["public/gateway", "mesh"]))
    assert vs["spec"]["gateways"] == ["public/gateway", "mesh"]


def test_virtual_service_http_route_carries_the_service_options() -> None:
    options = {
        "match": [{"uri": {"prefix": "/"}}],
        "rewrite": {"uri": "/"},
        "timeout": "5s",
        "retries": {"attempts": 3, "perTryTimeout": "1s", "retryOn": "gateway-error"},
        "corsPolicy": {"allowOrigins": [{"exact": "https://example.com"}]},
        "headers": {"request": {"add": {"x-canary": "podinfo"}}},
    }
    http = build_virtual_service(make_canary(**options), Routes(80, 20))["spec"]["http"]
    assert len(http) == 1
    assert {k: v for k, v in http[0].items() if k != "route"} == options
    assert [(r["destination"]["host"], r["weight"]) for r in http[0]["route"]] == [
        ("podinfo-primary", 80), ("podinfo-canary", 20)]


def test_virtual_service_carries_the_apex_metadata_and_owner() -> None:
    canary = make_canary(name="frontend",
                         apex={"labels": {"tier": "edge"}, "annotations": {"note": "x"}})
    vs = build_virtual_service(canary)
    assert vs["metadata"]["name"] == "frontend"
    assert vs["metadata"]["labels"] == {"tier": "edge"}
    assert vs["metadata"]["annotations"] == {"note": "x", **ROUTER_ANNOTATIONS}
    assert vs["metadata"]["ownerReferences"][0] == {
        "apiVersion": "flagger.app/v1beta1", "kind": "Canary", "name": "podinfo", "uid": UID,
        "controller": True, "blockOwnerDeletion": True}
    assert [r["destination"]["host"] for r in vs["spec"]["http"][0]["route"]] == [
        "frontend-primary", "frontend-canary"]


def test_a_delegate_virtual_service_has_no_hosts_or_gateways() -> None:
    vs = build_virtual_service(make_canary(delegation=True))
    assert "hosts" not in vs["spec"] and "gateways" not in vs["spec"]


def test_discovered_ports_behind_a_gateway_name_the_destination_port() -> None:
    through_gateway = build_virtual_service(make_canary(portDiscovery=True,
                                                        gateways=["public"]))
    in_mesh = build_virtual_service(make_canary(portDiscovery=True))
    assert through_gateway["spec"]["http"][0]["route"][0]["destination"] == {
        "host": "podinfo-primary", "port": {"number": 9898}}
    assert in_mesh["spec"]["http"][0]["route"][0]["destination"] == {"host": "podinfo-primary"}


# -- weights ------------------------------------------------------------------------------


@pytest.mark.parametrize(("primary", "canary"), [(100, 0), (0, 100), (90, 10), (50, 50)])
def test_valid_weights_are_integers_that_sum_to_100(primary: int, canary: int) -> None:
    assert validate_weights(primary, canary) == (primary, canary)


@pytest.mark.parametrize(("primary", "canary", "message"), [
    (90, 20, "sum to 100"),
    (101, -1, "between 0 and 100"),
    (-10, 110, "between 0 and 100"),
    (50.0, 50, "integer"),
    (True, 99, "integer"),
    ("90", 10, "integer"),
])
def test_invalid_weights_are_refused(primary: Any, canary: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_weights(primary, canary)
    with pytest.raises(ValueError, match=message):
        build_virtual_service(make_canary(), Routes(primary, canary))


async def test_set_routes_refuses_invalid_weights_before_any_request() -> None:
    router: Router = IstioRouter(cast(ApiClient, None))
    with pytest.raises(ValueError, match="sum to 100"):
        await router.set_routes(make_canary(), Routes(60, 60))
    with pytest.raises(ValueError, match="mirrored must be a bool"):
        await router.set_routes(make_canary(), Routes(100, 0, mirrored="yes"))  # type: ignore[arg-type]


def test_read_routes_reads_the_route_to_the_canary_host() -> None:
    canary = make_canary()
    assert read_routes(build_virtual_service(canary, Routes(70, 30)), canary) == Routes(70, 30)
    unweighted = build_virtual_service(canary)
    del unweighted["spec"]["http"][0]["route"][1]["weight"]
    assert read_routes(unweighted, canary) == Routes(100, 0)
    elsewhere = {"spec": {"http": [{"route": [{"destination": {"host": "other"}}]}]}}
    assert read_routes(elsewhere, canary) is None


def test_route_patch_replaces_only_the_route_list_after_testing_the_version() -> None:
    canary = make_canary()
    live = as_live(build_virtual_service(canary))
    assert build_routes_patch(canary, live, Routes(90, 10)) == [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "100"},
        {"op": "replace", "path": "/spec/http/0/route", "value": [
            {"destination": {"host": "podinfo-primary"}, "weight": 90},
            {"destination": {"host": "podinfo-canary"}, "weight": 10},
        ]},
    ]


def test_route_patch_is_empty_when_the_routes_are_already_live() -> None:
    canary = make_canary()
    live = as_live(build_virtual_service(canary, Routes(90, 10)))
    assert build_routes_patch(canary, live, Routes(90, 10)) == []


def test_route_patch_brings_a_foreign_rule_back_to_the_canarys_shape() -> None:
    canary = make_canary()
    live = as_live(build_virtual_service(canary))
    primary_only = {"route": [{"destination": {"host": "podinfo-primary"}, "weight": 100}]}
    live["spec"]["http"].insert(0, primary_only)
    operations = build_routes_patch(canary, live, Routes(0, 100))
    assert operations[1:] == [
        {"op": "replace", "path": "/spec/http/0/route", "value": [
            {"destination": {"host": "podinfo-primary"}, "weight": 0},
            {"destination": {"host": "podinfo-canary"}, "weight": 100}]},
        {"op": "remove", "path": "/spec/http/1"},
    ]


def test_route_patch_needs_a_route_to_the_canary_and_the_primary() -> None:
    canary = make_canary()
    no_canary = {"metadata": {}, "spec": {"http": [{"route": [
        {"destination": {"host": "podinfo-primary"}, "weight": 100}]}]}}
    with pytest.raises(RouterError, match="test/podinfo has no HTTP route to podinfo-canary"):
        build_routes_patch(canary, no_canary, Routes(90, 10))
    no_primary = {"metadata": {}, "spec": {"http": [{"route": [
        {"destination": {"host": "podinfo-canary"}, "weight": 100}]}]}}
    with pytest.raises(RouterError, match="but not to podinfo-primary"):
        build_routes_patch(canary, no_primary, Routes(90, 10))


# -- reconciling an existing VirtualService -----------------------------------------------


def test_an_up_to_date_virtual_service_needs_no_patch() -> None:
    canary = make_canary(hosts=["app.example.com"], gateways=["public"])
    assert build_virtual_service_patch(canary, as_live(build_virtual_service(canary))) == {}


def test_reconcile_keeps_the_live_weights_and_mirroring() -> None:
    canary = make_canary()
    live = as_live(build_virtual_service(canary, Routes(90, 10)))
    live["spec"]["http"][0]["mirror"] = {"host": "podinfo-canary"}
    assert build_virtual_service_patch(canary, live) == {}
    changed = make_canary(timeout="10s")
    patch = build_virtual_service_patch(changed, live)
    (http,) = patch["spec"]["http"]
    assert http["timeout"] == "10s"
    assert http["mirror"] == {"host": "podinfo-canary"}
    assert [r["weight"] for r in http["route"]] == [90, 10]
    assert patch["metadata"] == {"resourceVersion": "100"}


def test_reconcile_replaces_hosts_and_gateways_but_not_foreign_fields_or_labels() -> None:
    old = make_canary(hosts=["old.example.com"])
    live = as_live(build_virtual_service(old))
    live["spec"]["exportTo"] = ["."]
    live["metadata"]["labels"] = {"argocd.argoproj.io/instance": "shop"}
    new = make_canary(hosts=["new.example.com"], gateways=["public"],
                      apex={"labels": {"tier": "edge"}})
    patch = build_virtual_service_patch(new, live)
    assert patch["spec"] == {"hosts": ["new.example.com", "podinfo"], "gateways": ["public"]}
    assert patch["metadata"] == {"labels": {"tier": "edge"}, "resourceVersion": "100"}


def test_reconcile_repairs_a_route_list_with_no_usable_weights() -> None:
    canary = make_canary()
    live = as_live(build_virtual_service(canary))
    live["spec"]["http"][0]["route"][0]["weight"] = 0
    patch = build_virtual_service_patch(canary, live)
    assert [r["weight"] for r in patch["spec"]["http"][0]["route"]] == [100, 0]


# -- A/B testing --------------------------------------------------------------------------

PRIMARY, CANARY = "podinfo-primary", "podinfo-canary"
INSIDERS = {"headers": {"x-canary": {"exact": "insider"}}}
SAFARI = {"headers": {"user-agent": {"regex": ".*Safari.*"}}}
OPTIONS = {"rewrite": {"uri": "/"}, "timeout": "5s",
           "retries": {"attempts": 3, "perTryTimeout": "1s", "retryOn": "gateway-error"},
           "corsPolicy": {"allowOrigins": [{"exact": "https://example.com"}]},
           "headers": {"request": {"add": {"x-canary": "podinfo"}}}}


def split(primary: int, canary: int) -> list[dict[str, Any]]:
    return [{"destination": {"host": PRIMARY}, "weight": primary},
            {"destination": {"host": CANARY}, "weight": canary}]


def ab_canary(**service: Any) -> Canary:
    return make_canary({"iterations": 10, "match": [INSIDERS, SAFARI]}, **service)


def test_ab_routes_the_matching_requests_by_weight_and_the_rest_to_the_primary() -> None:
    http = build_http(ab_canary(**OPTIONS), Routes(0, 100))
    assert http == [
        {"match": [INSIDERS, SAFARI], **OPTIONS, "route": split(0, 100)},
        {**OPTIONS, "route": [{"destination": {"host": PRIMARY}, "weight": 100}]},
    ]


def test_ab_combines_every_condition_with_every_service_match() -> None:
    api, web = {"uri": {"prefix": "/api"}}, {"uri": {"prefix": "/web"},
                                             "headers": {"x-tenant": {"exact": "a"}}}
    http = build_http(ab_canary(match=[api, web]), Routes(0, 100))
    assert http[0]["match"] == [
        {"uri": {"prefix": "/api"}, **INSIDERS},
        {"uri": {"prefix": "/web"}, "headers": {"x-tenant": {"exact": "a"},
                                                "x-canary": {"exact": "insider"}}},
        {"uri": {"prefix": "/api"}, **SAFARI},
        {"uri": {"prefix": "/web"}, "headers": {"x-tenant": {"exact": "a"},
                                                "user-agent": {"regex": ".*Safari.*"}}},
    ]
    assert http[1]["match"] == [api, web]


def test_ab_keeps_query_parameter_conditions_when_combined() -> None:
    # Flagger would drop them and send every /api request down the canary's rule.
    query = {"queryParams": {"beta": {"exact": "1"}}}
    merged = merge_match_conditions([query], [{"uri": {"prefix": "/api"}}])
    assert merged == [{"uri": {"prefix": "/api"}, "queryParams": {"beta": {"exact": "1"}}}]


def test_ab_takes_its_shape_from_match_alone() -> None:
    http = build_http(make_canary({"stepWeight": 10, "match": [INSIDERS]}))
    assert [rule.get("match") for rule in http] == [[INSIDERS], None]


def test_ab_routes_are_read_from_the_match_rule_and_set_on_it_only() -> None:
    canary = ab_canary()
    live = as_live(build_virtual_service(canary))
    assert read_routes(live, canary) == Routes(100, 0)
    assert build_routes_patch(canary, live, Routes(0, 100)) == [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "100"},
        {"op": "replace", "path": "/spec/http/0/route", "value": split(0, 100)},
    ]
    live["spec"]["http"] = build_http(canary, Routes(0, 100))
    assert read_routes(live, canary) == Routes(0, 100)
    assert build_routes_patch(canary, live, Routes(0, 100)) == []


def test_reconcile_keeps_the_weights_and_mirror_of_the_ab_match_rule() -> None:
    canary = ab_canary()
    live = as_live(build_virtual_service(canary, Routes(0, 100)))
    live["spec"]["http"][0]["mirror"] = {"host": CANARY}
    assert build_virtual_service_patch(canary, live) == {}
    changed = ab_canary(timeout="10s")
    first, default = build_virtual_service_patch(changed, live)["spec"]["http"]
    assert (first["timeout"], first["route"], first["mirror"]) == ("10s", split(0, 100),
                                                                   {"host": CANARY})
    assert default["timeout"] == "10s"
    assert default["route"] == [{"destination": {"host": PRIMARY}, "weight": 100}]


def test_reconcile_turns_a_canary_into_an_ab_test_keeping_its_weights() -> None:
    live = as_live(build_virtual_service(make_canary(), Routes(60, 40)))
    http = build_virtual_service_patch(ab_canary(), live)["spec"]["http"]
    assert [(rule.get("match"), rule["route"]) for rule in http] == [
        ([INSIDERS, SAFARI], split(60, 40)),
        (None, [{"destination": {"host": PRIMARY}, "weight": 100}])]


# -- mirroring ----------------------------------------------------------------------------


@pytest.mark.parametrize(("mirror_weight", "expected"), [
    (None, {"mirror": {"host": CANARY}}),
    (0, {"mirror": {"host": CANARY}}),
    (25, {"mirror": {"host": CANARY}, "mirrorPercentage": {"value": 25}}),
])
def test_mirroring_shadows_the_weighted_rule_to_the_canary(
    mirror_weight: int | None, expected: dict[str, Any]
) -> None:
    analysis: dict[str, Any] = {"iterations": 5, "mirror": True}
    if mirror_weight is not None:
        analysis["mirrorWeight"] = mirror_weight
    canary = make_canary(analysis)
    (rule,) = build_http(canary, Routes(100, 0, mirrored=True))
    assert rule == {"route": split(100, 0), **expected}
    assert read_routes({"spec": {"http": [rule]}}, canary) == Routes(100, 0, mirrored=True)


def test_mirroring_is_turned_on_and_off_by_minimal_idempotent_patches() -> None:
    canary = make_canary({"iterations": 5, "mirror": True, "mirrorWeight": 50})
    live = as_live(build_virtual_service(canary))
    on = build_routes_patch(canary, live, Routes(100, 0, mirrored=True))
    assert on[1:] == [
        {"op": "add", "path": "/spec/http/0/mirror", "value": {"host": CANARY}},
        {"op": "add", "path": "/spec/http/0/mirrorPercentage", "value": {"value": 50}}]
    live["spec"]["http"] = build_http(canary, Routes(100, 0, mirrored=True))
    assert build_routes_patch(canary, live, Routes(100, 0, mirrored=True)) == []
    off = build_routes_patch(canary, live, Routes(0, 100))
    assert off[1:] == [
        {"op": "remove", "path": "/spec/http/0/mirror"},
        {"op": "remove", "path": "/spec/http/0/mirrorPercentage"},
        {"op": "replace", "path": "/spec/http/0/route", "value": split(0, 100)}]
    assert read_routes({"spec": {"http": build_http(canary, Routes(0, 100))}},
                       canary) == Routes(0, 100)


def test_mirroring_an_ab_test_shadows_its_match_rule() -> None:
    first, default = build_http(ab_canary(), Routes(100, 0, mirrored=True))
    assert first["mirror"] == {"host": CANARY}
    assert "mirror" not in default


# -- session affinity ---------------------------------------------------------------------

AFFINITY = {"cookieName": "flagger-cookie", "maxAge": 3600}
CANARY_COOKIE, PRIMARY_COOKIE = "flagger-cookie=abcdefghij", "primary-cookie=KLMNOPQRST"
OLD_COOKIE = "flagger-cookie=zyxwvutsrq"


def sticky_canary(**affinity: Any) -> Canary:
    return make_canary({"stepWeight": 10, "sessionAffinity": {**AFFINITY, **affinity}})


def cookie_rule(cookie_regex: str, route: list[dict[str, Any]],
                **fields: Any) -> dict[str, Any]:
    return {"match": [{"headers": {"Cookie": {"regex": cookie_regex}}}], **fields,
            "route": route}


def with_cookie(destination: dict[str, Any], cookie: str) -> dict[str, Any]:
    return {**destination, "headers": {"response": {"add": {"Set-Cookie": cookie}}}}


def test_affinity_sends_the_canary_cookie_to_the_canary_and_sets_it_there() -> None:
    canary = sticky_canary()
    http = build_http(canary, Routes(90, 10), AffinityCookies(CANARY_COOKIE))
    primary, canary_dest = split(90, 10)
    assert http == [
        cookie_rule(".*flagger-cookie.*abcdefghij.*", split(0, 100)),
        {"route": [primary, with_cookie(canary_dest, f"{CANARY_COOKIE}; Max-Age=3600")]},
    ]
    assert read_routes({"spec": {"http": http}}, canary) == Routes(90, 10)
    assert read_affinity({"spec": {"http": http}}, canary) == AffinityCookies(CANARY_COOKIE)


def test_affinity_cookie_attributes_follow_the_spec_in_flaggers_order() -> None:
    canary = sticky_canary(domain="example.com", httpOnly=True, partitioned=True, path="/",
                           sameSite="Strict", secure=True)
    http = build_http(canary, Routes(90, 10), AffinityCookies(CANARY_COOKIE))
    assert http[-1]["route"][1]["headers"]["response"]["add"]["Set-Cookie"] == (
        f"{CANARY_COOKIE}; Max-Age=3600; Domain=example.com; HttpOnly; Partitioned; "
        "Path=/; SameSite=Strict; Secure")


def test_affinity_with_a_primary_cookie_keeps_users_on_the_primary_for_an_interval() -> None:
    canary = sticky_canary(primaryCookieName="primary-cookie")
    http = build_http(canary, Routes(80, 20), AffinityCookies(CANARY_COOKIE, PRIMARY_COOKIE))
    primary, canary_dest = split(80, 20)
    assert http == [
        cookie_rule(".*flagger-cookie.*abcdefghij.*", split(0, 100)),
        cookie_rule(".*primary-cookie.*KLMNOPQRST.*", split(100, 0)),
        {"route": [with_cookie(primary, f"{PRIMARY_COOKIE}; Max-Age=30"),
                   with_cookie(canary_dest, f"{CANARY_COOKIE}; Max-Age=3600")]},
    ]
    assert read_affinity({"spec": {"http": http}}, canary) == AffinityCookies(
        CANARY_COOKIE, PRIMARY_COOKIE)


def test_affinity_expires_the_previous_cookie_on_a_rule_matching_it() -> None:
    canary = sticky_canary()
    cookies = AffinityCookies(None, previous=OLD_COOKIE)
    http = build_http(canary, Routes(100, 0), cookies)
    assert http == [
        cookie_rule(".*flagger-cookie.*zyxwvutsrq.*", split(100, 0),
                    headers={"response": {"add": {
                        "Set-Cookie": f"{OLD_COOKIE}; Max-Age=-1"}}}),
        {"route": split(100, 0)},
    ]
    assert read_affinity({"spec": {"http": http}}, canary) == cookies
    during = build_http(canary, Routes(90, 10), AffinityCookies(CANARY_COOKIE,
                                                                 previous=OLD_COOKIE))
    assert [rule["match"][0]["headers"]["Cookie"]["regex"] for rule in during[:-1]] == [
        ".*flagger-cookie.*abcdefghij.*", ".*flagger-cookie.*zyxwvutsrq.*"]
    assert during[1]["route"] == during[2]["route"]  # the expired user still gets a draw


def test_affinity_cookie_rules_keep_the_service_match_and_route_options() -> None:
    canary = make_canary({"stepWeight": 10, "sessionAffinity": AFFINITY},
                         match=[{"uri": {"prefix": "/api"}}], timeout="5s",
                         headers={"response": {"set": {"x-served-by": "mesh"}}})
    sticky, old, weighted = build_http(canary, Routes(90, 10),
                                       AffinityCookies(CANARY_COOKIE, previous=OLD_COOKIE))
    assert sticky["match"] == [{"uri": {"prefix": "/api"}, "headers": {
        "Cookie": {"regex": ".*flagger-cookie.*abcdefghij.*"}}}]
    assert sticky["timeout"] == old["timeout"] == weighted["timeout"] == "5s"
    assert old["headers"] == {"response": {"set": {"x-served-by": "mesh"}, "add": {
        "Set-Cookie": f"{OLD_COOKIE}; Max-Age=-1"}}}
    assert weighted["match"] == [{"uri": {"prefix": "/api"}}]


def test_affinity_escapes_regex_characters_of_the_cookie() -> None:
    canary = make_canary({"stepWeight": 10, "sessionAffinity": {"cookieName": "a.b+c"}})
    (sticky, _) = build_http(canary, Routes(90, 10), AffinityCookies("a.b+c=x(1)"))
    assert sticky["match"][0]["headers"]["Cookie"]["regex"] == r".*a\.b\+c.*x\(1\).*"


@pytest.mark.parametrize("cookies", [
    None, AffinityCookies(None), AffinityCookies(CANARY_COOKIE, PRIMARY_COOKIE)])
def test_at_weight_0_or_without_cookies_no_cookie_routes_remain(
    cookies: AffinityCookies | None
) -> None:
    canary = sticky_canary(primaryCookieName="primary-cookie")
    assert build_http(canary, Routes(100, 0), cookies) == [{"route": split(100, 0)}]
    if cookies is None:
        assert build_http(canary, Routes(50, 50), cookies) == [{"route": split(50, 50)}]


def test_affinity_is_ignored_without_session_affinity_in_the_spec_or_in_an_ab_test() -> None:
    cookies = AffinityCookies(CANARY_COOKIE)
    assert build_http(make_canary({"stepWeight": 10}), Routes(90, 10), cookies) == [
        {"route": split(90, 10)}]
    ab = make_canary({"iterations": 5, "match": [INSIDERS], "sessionAffinity": AFFINITY})
    assert [rule.get("match") for rule in build_http(ab, Routes(0, 100), cookies)] == [
        [INSIDERS], None]


def test_affinity_patches_add_then_remove_the_cookie_rules_idempotently() -> None:
    canary = sticky_canary(primaryCookieName="primary-cookie")
    live = as_live(build_virtual_service(canary))
    cookies = AffinityCookies(CANARY_COOKIE, PRIMARY_COOKIE)
    start = build_routes_patch(canary, live, Routes(90, 10), cookies)
    assert [(op["op"], op["path"]) for op in start] == [
        ("test", "/metadata/resourceVersion"), ("add", "/spec/http/0/match"),
        ("replace", "/spec/http/0/route"), ("add", "/spec/http/-"), ("add", "/spec/http/-")]
    live["spec"]["http"] = build_http(canary, Routes(90, 10), cookies)
    assert build_routes_patch(canary, live, Routes(90, 10), cookies) == []
    end = build_routes_patch(canary, live, Routes(100, 0),
                             AffinityCookies(None, previous=CANARY_COOKIE))
    applied = apply_patch(live, end)
    assert applied["spec"]["http"] == build_http(
        canary, Routes(100, 0), AffinityCookies(None, previous=CANARY_COOKIE))


def test_reconcile_keeps_the_live_cookies_and_refreshes_their_attributes() -> None:
    canary = sticky_canary(primaryCookieName="primary-cookie")
    cookies = AffinityCookies(CANARY_COOKIE, PRIMARY_COOKIE, OLD_COOKIE)
    live = as_live(build_virtual_service(canary, Routes(70, 30), cookies))
    assert build_virtual_service_patch(canary, live) == {}
    longer = sticky_canary(primaryCookieName="primary-cookie", maxAge=7200)
    http = build_virtual_service_patch(longer, live)["spec"]["http"]
    assert http == build_http(longer, Routes(70, 30), cookies)
    assert http[-1]["route"][1]["headers"]["response"]["add"]["Set-Cookie"] == (
        f"{CANARY_COOKIE}; Max-Age=7200")
    without = make_canary({"stepWeight": 10})
    assert build_virtual_service_patch(without, live)["spec"]["http"] == [
        {"route": split(70, 30)}]


def apply_patch(document: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """A small RFC 6902 applier for the operations the router writes."""
    result = copy.deepcopy(document)
    for operation in operations:
        *parents, last = [part.replace("~1", "/").replace("~0", "~")
                          for part in operation["path"].lstrip("/").split("/")]
        target: Any = result
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if operation["op"] == "test":
            assert target[last] == operation["value"]
        elif isinstance(target, list):
            if operation["op"] == "remove":
                del target[int(last)]
            elif last == "-":
                target.append(operation["value"])
            elif operation["op"] == "add":
                target.insert(int(last), operation["value"])
            else:
                target[int(last)] = operation["value"]
        elif operation["op"] == "remove":
            del target[last]
        else:
            target[last] = operation["value"]
    return result


@pytest.mark.parametrize(("before", "after"), [
    ((Routes(100, 0), None), (Routes(90, 10), AffinityCookies(CANARY_COOKIE, PRIMARY_COOKIE))),
    ((Routes(90, 10), AffinityCookies(CANARY_COOKIE, PRIMARY_COOKIE)),
     (Routes(100, 0), AffinityCookies(None, previous=CANARY_COOKIE))),
    ((Routes(100, 0), AffinityCookies(None, previous=OLD_COOKIE)),
     (Routes(80, 20, mirrored=True), AffinityCookies(CANARY_COOKIE, previous=OLD_COOKIE))),
    ((Routes(80, 20, mirrored=True), None), (Routes(100, 0), None)),
])
def test_every_route_patch_lands_on_the_built_rules_and_is_then_empty(
    before: tuple[Routes, AffinityCookies | None], after: tuple[Routes, AffinityCookies | None]
) -> None:
    canary = sticky_canary(primaryCookieName="primary-cookie")
    live = as_live(build_virtual_service(canary, *before))
    applied = apply_patch(live, build_routes_patch(canary, live, *after))
    assert applied["spec"]["http"] == build_http(canary, *after)
    assert build_routes_patch(canary, applied, *after) == []
    assert read_routes(applied, canary) == after[0]
