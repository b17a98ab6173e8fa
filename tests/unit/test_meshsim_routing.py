"""Destination hosts resolve to the Deployments behind their Services."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from canary_operator.lab.meshsim.labels import ServiceRef
from canary_operator.lab.meshsim.objects import (
    DeploymentInfo,
    ServiceInfo,
    deployment_from,
    service_from,
    virtual_service_from,
)
from canary_operator.lab.meshsim.routing import (
    NO_CLUSTER,
    NO_HEALTHY_UPSTREAM,
    SERVED,
    resolve,
    service_ref,
)
from tests.unit.test_meshsim_objects import deployment_json, service_json, vs_json


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """A Service's rule (the inventory's label index implements it for the simulator): a
    selector matches a superset of its labels, and an empty one matches no pods."""
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


class FakeCluster:
    def __init__(self, *objects: dict[str, Any]) -> None:
        self.services: dict[tuple[str, str], ServiceInfo] = {}
        self.deployments_by_namespace: dict[str, list[DeploymentInfo]] = {}
        for obj in objects:
            if "template" in obj["spec"]:
                d = deployment_from(obj)
                self.deployments_by_namespace.setdefault(d.namespace, []).append(d)
            else:
                s = service_from(obj)
                self.services[s.namespace, s.name] = s

    def service(self, namespace: str, name: str) -> ServiceInfo | None:
        return self.services.get((namespace, name))

    def selected(self, namespace: str, selector: Mapping[str, str]) -> Iterable[DeploymentInfo]:
        return [d for d in self.deployments_by_namespace.get(namespace, [])
                if selects(selector, d.template_labels)]


def flagger_pair(namespace: str = "test", canary_available: int = 1) -> FakeCluster:
    return FakeCluster(
        service_json(namespace, "podinfo-primary", {"app": "podinfo-primary"}),
        service_json(namespace, "podinfo-canary", {"app": "podinfo"}),
        deployment_json(namespace, "podinfo-primary"),
        deployment_json(namespace, "podinfo", available=canary_available),
    )


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("podinfo-canary", ServiceRef("test", "podinfo-canary")),
        ("podinfo-canary.other", ServiceRef("other", "podinfo-canary")),
        ("podinfo-canary.other.svc", ServiceRef("other", "podinfo-canary")),
        ("podinfo-canary.other.svc.cluster.local", ServiceRef("other", "podinfo-canary")),
    ],
)
def test_a_host_names_a_service_short_names_in_the_virtual_services_namespace(
    host: str, expected: ServiceRef
) -> None:
    assert service_ref(host, "test") == expected


def test_the_fqdn_of_a_service() -> None:
    assert ServiceRef("test", "podinfo").fqdn == "podinfo.test.svc.cluster.local"



def test_weights_become_shares_of_the_workloads_behind_each_service() -> None:
    vs = virtual_service_from(vs_json("test", "podinfo", ("podinfo-primary", 90),
                                      ("podinfo-canary.test.svc.cluster.local", 10)))
    targets = resolve(vs, flagger_pair())
    assert [(t.workload.name if t.workload else None, t.share, t.response_flags)
            for t in targets] == [("podinfo-primary", 0.9, SERVED), ("podinfo", 0.1, SERVED)]
    assert targets[1].service == ServiceRef("test", "podinfo-canary")


def test_weights_that_do_not_sum_to_100_are_normalised() -> None:
    vs = virtual_service_from(vs_json("test", "podinfo", ("podinfo-primary", 3),
                                      ("podinfo-canary", 1)))
    assert [t.share for t in resolve(vs, flagger_pair())] == [0.75, 0.25]


def test_a_weight_0_destination_stays_as_a_target_with_no_share() -> None:
    vs = virtual_service_from(vs_json("test", "podinfo", ("podinfo-primary", 100),
                                      ("podinfo-canary", 0)))
    targets = resolve(vs, flagger_pair())
    assert [(t.workload.name if t.workload else None, t.share) for t in targets] == [
        ("podinfo-primary", 1.0), ("podinfo", 0.0)]


def test_a_destination_without_available_replicas_has_no_healthy_upstream() -> None:
    vs = virtual_service_from(vs_json("test", "podinfo", ("podinfo-primary", 50),
                                      ("podinfo-canary", 50)))
    canary = resolve(vs, flagger_pair(canary_available=0))[1]
    assert canary.workload is None
    assert canary.response_flags == NO_HEALTHY_UPSTREAM
    assert canary.share == 0.5


def test_a_destination_without_a_service_has_no_cluster() -> None:
    vs = virtual_service_from(vs_json("test", "podinfo", ("nowhere", 100)))
    (target,) = resolve(vs, flagger_pair())
    assert (target.workload, target.response_flags) == (None, NO_CLUSTER)


def test_a_service_over_two_deployments_splits_by_available_replicas() -> None:
    cluster = FakeCluster(
        service_json("test", "backend", {"tier": "backend"}),
        deployment_json("test", "blue", available=3, labels={"tier": "backend", "app": "b"}),
        deployment_json("test", "green", available=1, labels={"tier": "backend", "app": "g"}),
        deployment_json("test", "down", available=0, labels={"tier": "backend"}),
        deployment_json("test", "frontend", available=2, labels={"tier": "frontend"}),
    )
    vs = virtual_service_from(vs_json("test", "backend", ("backend", None)))
    assert [(t.workload.name if t.workload else None, t.share)
            for t in resolve(vs, cluster)] == [("blue", 0.75), ("green", 0.25)]


def test_a_virtual_service_with_zero_total_weight_sends_nothing() -> None:
    vs = virtual_service_from(vs_json("test", "podinfo", ("podinfo-primary", 0),
                                      ("podinfo-canary", 0)))
    assert [t.share for t in resolve(vs, flagger_pair())] == [0.0, 0.0]
