"""The simulator keeps only what it needs from the raw objects a watch delivers.

The builders here (`vs_json`, `service_json`, `deployment_json`) are shared by the other
mesh simulator tests.
"""

from __future__ import annotations

from typing import Any

from canary_operator.lab.meshsim.behaviour import HEALTHY, Behaviour
from canary_operator.lab.meshsim.objects import (
    Route,
    deployment_from,
    service_from,
    virtual_service_from,
)


def vs_json(namespace: str, name: str, *routes: tuple[str, int | None]) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    for host, weight in routes:
        entry: dict[str, Any] = {"destination": {"host": host}}
        if weight is not None:
            entry["weight"] = weight
        entries.append(entry)
    return {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": {"namespace": namespace, "name": name, "resourceVersion": "1"},
        "spec": {"hosts": [name], "http": [{"route": entries}]},
    }


def service_json(namespace: str, name: str, selector: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": name}, "spec": {"selector": selector}}


def deployment_json(namespace: str, name: str, *, available: int = 1,
                    annotations: dict[str, str] | None = None,
                    labels: dict[str, str] | None = None,
                    service_account: str | None = None) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {"containers": [{"name": name, "image": "podinfo"}]}
    if service_account:
        pod_spec["serviceAccountName"] = service_account
    return {
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"template": {
            "metadata": {"labels": labels or {"app": name}, "annotations": annotations or {}},
            "spec": pod_spec,
        }},
        "status": {"availableReplicas": available} if available else {},
    }


def test_reads_the_first_http_routes_destinations_and_weights() -> None:
    vs = virtual_service_from(vs_json("test", "podinfo", ("podinfo-primary", 90),
                                      ("podinfo-canary", 10)))
    assert (vs.namespace, vs.name) == ("test", "podinfo")
    assert vs.routes == (Route("podinfo-primary", 90), Route("podinfo-canary", 10))


def test_a_lone_destination_without_weight_takes_all_traffic() -> None:
    vs = virtual_service_from(vs_json("test", "podinfo", ("podinfo", None)))
    assert vs.routes == (Route("podinfo", 100),)


def test_a_missing_weight_among_several_counts_as_zero() -> None:
    vs = virtual_service_from(vs_json("test", "podinfo", ("a", None), ("b", 100)))
    assert vs.routes == (Route("a", 0), Route("b", 100))


def test_a_virtual_service_without_http_routes_has_no_destinations() -> None:
    raw = vs_json("test", "podinfo")
    raw["spec"] = {"hosts": ["podinfo"], "tcp": [{"route": []}]}
    assert virtual_service_from(raw).routes == ()


def test_service_keeps_its_selector() -> None:
    service = service_from(service_json("test", "podinfo-canary", {"app": "podinfo"}))
    assert service.selector == {"app": "podinfo"}


def test_deployment_identity_and_behaviour_come_from_the_pod_template() -> None:
    info = deployment_from(deployment_json(
        "test", "podinfo", available=3,
        labels={"app": "podinfo", "version": "6.9.1"},
        annotations={"lab.canary-operator.dev/error-rate": "0.2",
                     "lab.canary-operator.dev/latency-ms": "800"},
        service_account="podinfo",
    ))
    assert info.available_replicas == 3
    assert info.behaviour == Behaviour(error_rate=0.2, latency_ms=800)
    assert info.peer.app == "podinfo"
    assert info.peer.version == "6.9.1"
    assert info.peer.canonical_revision == "6.9.1"
    assert info.peer.principal == "spiffe://cluster.local/ns/test/sa/podinfo"


def test_a_deployment_without_status_has_no_available_replicas() -> None:
    info = deployment_from(deployment_json("test", "podinfo", available=0))
    assert info.available_replicas == 0
    assert info.behaviour == HEALTHY
    assert info.peer.principal.endswith("/sa/default")


def test_bad_annotations_are_kept_as_problems_naming_the_deployment() -> None:
    info = deployment_from(deployment_json(
        "test", "podinfo", annotations={"lab.canary-operator.dev/error-rate": "lots"}))
    assert info.behaviour == HEALTHY
    assert len(info.problems) == 1
    assert info.problems[0].startswith("Deployment test/podinfo: ")
