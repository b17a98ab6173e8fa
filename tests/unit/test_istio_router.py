"""The Istio router's pure parts: DestinationRules, the VirtualService, the patches that
reconcile it without touching weights, and the weight patch itself."""

from __future__ import annotations

import copy
from typing import Any, cast

import pytest
from kubernetes.aio.client import ApiClient

from canary_operator.api import Canary
from canary_operator.kube import ROUTER_ANNOTATIONS
from canary_operator.routers import (
    IstioRouter,
    Router,
    RouterError,
    build_destination_rules,
    build_virtual_service,
    build_weight_patch,
    route_weights,
    validate_weights,
)
from canary_operator.routers.istio import build_virtual_service_patch

UID = "5b2a0c1e-0000-4000-8000-000000000002"


def make_canary(**service: Any) -> Canary:
    return Canary.model_validate({
        "metadata": {"name": "podinfo", "namespace": "test", "uid": UID},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898, **service},
        },
    })


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
    http = build_virtual_service(make_canary(**options), 80, 20)["spec"]["http"]
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
        build_virtual_service(make_canary(), primary, canary)


async def test_set_weights_refuses_invalid_weights_before_any_request() -> None:
    router: Router = IstioRouter(cast(ApiClient, None))
    with pytest.raises(ValueError, match="sum to 100"):
        await router.set_weights(make_canary(), 60, 60)


def test_route_weights_read_the_route_to_the_canary_host() -> None:
    canary = make_canary()
    assert route_weights(build_virtual_service(canary, 70, 30), canary) == (70, 30)
    unweighted = build_virtual_service(canary)
    del unweighted["spec"]["http"][0]["route"][1]["weight"]
    assert route_weights(unweighted, canary) == (100, 0)
    elsewhere = {"spec": {"http": [{"route": [{"destination": {"host": "other"}}]}]}}
    assert route_weights(elsewhere, canary) is None


def test_weight_patch_replaces_the_route_list_after_testing_it() -> None:
    canary = make_canary()
    live = as_live(build_virtual_service(canary))
    live["spec"]["http"][0]["route"][1]["headers"] = {"request": {"set": {"x": "1"}}}
    operations = build_weight_patch(canary, live, 90, 10)
    old_route = live["spec"]["http"][0]["route"]
    assert operations == [
        {"op": "test", "path": "/spec/http/0/route", "value": old_route},
        {"op": "replace", "path": "/spec/http/0/route", "value": [
            {"destination": {"host": "podinfo-primary"}, "weight": 90},
            {"destination": {"host": "podinfo-canary"}, "weight": 10,
             "headers": {"request": {"set": {"x": "1"}}}},
        ]},
    ]


def test_weight_patch_is_empty_when_the_weights_are_already_routed() -> None:
    canary = make_canary()
    live = as_live(build_virtual_service(canary, 90, 10))
    assert build_weight_patch(canary, live, 90, 10) == []


def test_weight_patch_leaves_routes_without_the_canary_alone() -> None:
    canary = make_canary()
    live = as_live(build_virtual_service(canary))
    primary_only = {"route": [{"destination": {"host": "podinfo-primary"}, "weight": 100}]}
    live["spec"]["http"].insert(0, primary_only)
    operations = build_weight_patch(canary, live, 0, 100)
    assert [op["path"] for op in operations] == ["/spec/http/1/route"] * 2


def test_weight_patch_needs_a_route_to_the_canary_and_the_primary() -> None:
    canary = make_canary()
    no_canary = {"metadata": {}, "spec": {"http": [{"route": [
        {"destination": {"host": "podinfo-primary"}, "weight": 100}]}]}}
    with pytest.raises(RouterError, match="test/podinfo has no HTTP route to podinfo-canary"):
        build_weight_patch(canary, no_canary, 90, 10)
    no_primary = {"metadata": {}, "spec": {"http": [{"route": [
        {"destination": {"host": "podinfo-canary"}, "weight": 100}]}]}}
    with pytest.raises(RouterError, match="but not to podinfo-primary"):
        build_weight_patch(canary, no_primary, 90, 10)


# -- reconciling an existing VirtualService -----------------------------------------------


def test_an_up_to_date_virtual_service_needs_no_patch() -> None:
    canary = make_canary(hosts=["app.example.com"], gateways=["public"])
    assert build_virtual_service_patch(canary, as_live(build_virtual_service(canary))) == {}


def test_reconcile_keeps_the_live_weights_and_mirroring() -> None:
    canary = make_canary()
    live = as_live(build_virtual_service(canary, 90, 10))
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
