"""Blue/green, A/B testing and mirroring end to end: the operator as a process, the mesh
simulator following the VirtualService's rules (weights, match rules, mirrors), real
Prometheus scraping it. Each test asserts the routes over time (sampled from the
VirtualService the operator writes), the events, the verdict and the final objects.

Why the healthy blue/green release mirrors: with blue/green the routes stay 100/0 during
the iterations, so the canary gets no traffic and the builtin metrics (Istio's
destination-reported series) have no data: a failed check per iteration, a rollback.
Flagger's documented answer for Istio is blue/green with traffic mirroring (`mirror:
true`): every request is shadowed to the canary, whose sidecar reports it, so the builtin
checks measure the new version before it takes real traffic. The other documented answer,
a MetricTemplate whose query passes on no data (`(... >= 0) or on() vector(100)`,
fluxcd/flagger#1353), is covered too: it is the one for a mesh without mirroring. The
failing blue/green release mirrors as well, so that it fails on its measured errors, not
on NoData.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from canary_operator.lab import Lab
from canary_operator.lab.errors import LabTimeout
from canary_operator.lab.meshsim import MeshSimulator, RouteView
from tests.canary_cluster import Cluster, Sampler
from tests.operator_harness import OperatorProcess
from tests.paths import REPO

EXAMPLE = REPO / "examples" / "podinfo"
NAME = "podinfo"
OLD = "ghcr.io/stefanprodan/podinfo:6.9.0"
GOOD, BAD = "ghcr.io/stefanprodan/podinfo:6.9.1", "ghcr.io/stefanprodan/podinfo:6.9.2"
ERROR_RATE = "lab.canary-operator.dev/error-rate"
MATCH_SHARE = "lab.canary-operator.dev/match-share"
PRIMARY_HOST, CANARY_HOST = f"{NAME}-primary", f"{NAME}-canary"
INSIDER = {"headers": {"x-canary": {"exact": "insider"}}}
ITERATIONS = 3
ISTIO = ("networking.istio.io", "v1beta1")

T = TypeVar("T")


# -- fixtures (as tests/e2e/test_canary_scenarios.py) -------------------------------------


@pytest.fixture
def cluster(lab: Lab, api: client.ApiClient, namespace: str, operator: OperatorProcess,
            mesh: MeshSimulator) -> Cluster:
    return Cluster(lab, api, namespace, NAME)


# -- the manifests --------------------------------------------------------------------------


def manifests(namespace: str, **analysis: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """examples/podinfo in the test's namespace at test speed (2 s steps, 10 s metric
    windows), its analysis' weight schedule replaced by `analysis`."""
    deployment = yaml.safe_load((EXAMPLE / "deployment.yaml").read_text())
    canary = yaml.safe_load((EXAMPLE / "canary.yaml").read_text())
    for body in (deployment, canary):
        body["metadata"]["namespace"] = namespace
    canary["spec"]["progressDeadlineSeconds"] = 15
    spec = canary["spec"]["analysis"]
    for schedule in ("stepWeight", "maxWeight"):
        spec.pop(schedule)
    spec.update({"interval": "2s", "threshold": 3, **analysis})
    for metric in spec["metrics"]:
        metric["interval"] = "10s"
    return deployment, canary


def initialize(cluster: Cluster, **analysis: Any) -> None:
    deployment, canary = manifests(cluster.namespace, **analysis)
    cluster.create_target(body=deployment)
    cluster.apply_canary(canary)
    cluster.wait_phase("Initialized", timeout=60)


# -- reading the VirtualService ---------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """What one http rule of the VirtualService routes: its weights, its mirror."""

    primary: int
    canary: int
    mirror: str | None = None
    mirror_percent: float | None = None


def virtual_service(cluster: Cluster) -> dict[str, Any] | None:
    try:
        got: dict[str, Any] = cluster.custom.get_namespaced_custom_object(  # type: ignore[assignment]
            *ISTIO, cluster.namespace, "virtualservices", NAME)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return got


def rules(cluster: Cluster) -> list[dict[str, Any]]:
    vs = virtual_service(cluster)
    assert vs is not None, "the VirtualService is gone"
    return list(vs["spec"]["http"])


def rule_of(http: dict[str, Any]) -> Rule:
    weights = {r["destination"]["host"]: r.get("weight", 0) for r in http["route"]}
    mirror = (http.get("mirror") or {}).get("host")
    percent = (http.get("mirrorPercentage") or {}).get("value")
    return Rule(weights.get(PRIMARY_HOST, 0), weights.get(CANARY_HOST, 0), mirror, percent)


def first_rule(cluster: Cluster) -> Rule | None:
    """The first http rule: the weighted one of a canary or blue/green, the A/B match
    rule of an A/B test."""
    vs = virtual_service(cluster)
    return rule_of(vs["spec"]["http"][0]) if vs is not None else None


# -- shared waits and assertions ------------------------------------------------------------


def iterations(cluster: Cluster) -> int:
    return int(cluster.canary().get("status", {}).get("iterations") or 0)


def wait_iteration(cluster: Cluster, at_least: int) -> None:
    try:
        cluster.lab.wait_for(lambda: iterations(cluster) >= at_least,
                             f"iteration {at_least} of {NAME}", 60)
    except LabTimeout as error:
        pytest.fail(f"{error}: status {cluster.canary().get('status')}, "
                    f"events {cluster.events()}")


def canary_replicas(cluster: Cluster) -> int:
    spec = cluster.deployment(NAME).spec
    return (spec.replicas or 0) if spec else 0


def primary_image(cluster: Cluster) -> str:
    primary = cluster.deployment(f"{NAME}-primary")
    assert primary.spec and primary.spec.template.spec
    return str(primary.spec.template.spec.containers[0].image)


def assert_iteration_events(cluster: Cluster) -> None:
    events = cluster.events()
    for i in range(1, ITERATIONS + 1):
        text = f"Advance {NAME}.{cluster.namespace} canary iteration {i}/{ITERATIONS}"
        assert text in events, (text, events)


def assert_promoted(cluster: Cluster) -> None:
    assert first_rule(cluster) == Rule(100, 0)
    assert primary_image(cluster) == GOOD
    cluster.lab.wait_for(lambda: canary_replicas(cluster) == 0, "the canary scaled to zero")
    status = cluster.canary()["status"]
    assert status["failedChecks"] == 0
    assert {c["name"]: c["outcome"] for c in status["checks"]} == {
        "request-success-rate": "Pass", "request-duration": "Pass"}
    events = cluster.wait_event(f"Promotion completed! Scaling down {NAME}.{cluster.namespace}")
    assert f"Promotion completed! Scaling down {NAME}.{cluster.namespace}" in events
    assert not any("NoData" in m or "not supported" in m for m in events), events


def assert_rolled_back_on_errors(cluster: Cluster) -> None:
    """Failed on the measured errors (20% of the canary's answers), not on NoData."""
    assert first_rule(cluster) == Rule(100, 0)
    cluster.lab.wait_for(lambda: canary_replicas(cluster) == 0, "the canary scaled to zero")
    assert primary_image(cluster) == OLD
    status = cluster.canary()["status"]
    assert status["failedChecks"] >= 3
    failing = next(c for c in status["checks"] if c["name"] == "request-success-rate")
    assert failing["outcome"] == "Fail" and 70 < failing["value"] < 90, failing
    events = cluster.wait_event(f"Canary failed! Scaling down {NAME}.{cluster.namespace}")
    assert f"Canary failed! Scaling down {NAME}.{cluster.namespace}" in events
    assert not any("NoData" in m for m in events), events


def mirrored_requests(mesh: MeshSimulator, namespace: str) -> int:
    """Requests the simulator shadowed to the canary so far (while the mirror is on: the
    simulator shows the live rules only)."""
    return sum(route.requests for route in _routes(mesh, namespace)
               if route.mirror and route.host == CANARY_HOST)


def _routes(mesh: MeshSimulator, namespace: str) -> tuple[RouteView, ...]:
    return next((vs.routes for vs in mesh.snapshot().virtual_services
                 if (vs.namespace, vs.name) == (namespace, NAME)), ())


# -- blue/green -------------------------------------------------------------------------------


def test_blue_green_with_mirroring_promotes_a_healthy_release(
    cluster: Cluster, mesh: MeshSimulator
) -> None:
    """100/0 with every request mirrored to the canary through the three iterations
    (measured by the builtin checks), then 0/100 for a last checked interval, then the
    promotion: 100/0, no mirror, the primary on the new image."""
    initialize(cluster, iterations=ITERATIONS, mirror=True)
    sampler = Sampler(lambda: first_rule(cluster))
    started = time.monotonic()
    cluster.set_image(GOOD)
    # Iteration 2 is counted after a check on mirrored traffic; the routes change only
    # after iteration 3 and one more interval: they are stable here.
    wait_iteration(cluster, 2)
    assert iterations(cluster) <= ITERATIONS
    http = rules(cluster)
    assert len(http) == 1
    assert rule_of(http[0]) == Rule(100, 0, mirror=CANARY_HOST)
    assert cluster.canary()["status"]["failedChecks"] == 0
    assert mirrored_requests(mesh, cluster.namespace) > 0
    cluster.wait_phase("Succeeded", timeout=90)
    seconds = time.monotonic() - started

    assert sampler.stop() == [Rule(100, 0), Rule(100, 0, mirror=CANARY_HOST), Rule(0, 100),
                              Rule(100, 0)]
    assert "mirror" not in rules(cluster)[0]
    assert_promoted(cluster)
    assert_iteration_events(cluster)
    events = cluster.events()
    # Flagger's text for this transition when mirroring ("Routing all traffic to canary"
    # without it, see the next test).
    assert "Stop traffic mirroring and route all traffic to canary" in events, events
    # 3 iterations + the interval at 0/100, 2 s each, at best.
    assert seconds >= (ITERATIONS + 1) * 2


def test_blue_green_without_mirroring_passes_on_a_template_tolerating_no_data(
    cluster: Cluster, prometheus_url: str
) -> None:
    """Without mirroring the canary gets no request during the iterations: a success rate
    query falling back to `vector(100)` (Flagger's documented workaround, #1353) passes
    then, and measures the canary once it takes all the traffic.

    `... or on() vector(100)` alone is not enough: the canary's series exist (at 0, as
    after any earlier release), so the ratio is 0/0 = NaN, a sample that `or` keeps and
    that counts as no data. `>= 0` drops the NaN first."""
    query = (
        '(sum(rate(istio_requests_total{reporter="destination",'
        'destination_workload_namespace="{{ namespace }}",destination_workload="{{ target }}",'
        'response_code!~"5.*"}[{{ interval }}])) / sum(rate(istio_requests_total{'
        'reporter="destination",destination_workload_namespace="{{ namespace }}",'
        'destination_workload="{{ target }}"}[{{ interval }}])) * 100 >= 0) '
        'or on() vector(100)')
    cluster.custom.create_namespaced_custom_object(
        "flagger.app", "v1beta1", cluster.namespace, "metrictemplates", {
            "apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate",
            "metadata": {"name": "success-rate-or-100", "namespace": cluster.namespace},
            "spec": {"provider": {"type": "prometheus", "address": prometheus_url},
                     "query": query}})
    initialize(cluster, iterations=ITERATIONS, metrics=[
        {"name": "success-rate", "templateRef": {"name": "success-rate-or-100"},
         "thresholdRange": {"min": 99}, "interval": "10s"}])
    sampler = Sampler(lambda: first_rule(cluster))
    cluster.set_image(GOOD)
    wait_iteration(cluster, 2)
    assert iterations(cluster) <= ITERATIONS
    assert rules(cluster) and first_rule(cluster) == Rule(100, 0)
    cluster.wait_phase("Succeeded", timeout=90)

    assert sampler.stop() == [Rule(100, 0), Rule(0, 100), Rule(100, 0)]
    assert_iteration_events(cluster)
    assert "Routing all traffic to canary" in cluster.wait_event("Routing all traffic to canary")
    assert primary_image(cluster) == GOOD
    cluster.lab.wait_for(lambda: canary_replicas(cluster) == 0, "the canary scaled to zero")
    status = cluster.canary()["status"]
    assert status["failedChecks"] == 0
    assert [(c["name"], c["outcome"]) for c in status["checks"]] == [("success-rate", "Pass")]


def test_blue_green_with_an_erroring_canary_rolls_back(cluster: Cluster) -> None:
    """The mirrored requests show the canary's errors: three failed checks, Failed,
    the routes never moved to the canary, mirroring off, the canary scaled to zero."""
    initialize(cluster, iterations=ITERATIONS, mirror=True)
    sampler = Sampler(lambda: first_rule(cluster))
    cluster.set_image(BAD, annotations={ERROR_RATE: "0.2"})
    cluster.wait_phase("Failed", timeout=90)

    assert sampler.stop() == [Rule(100, 0), Rule(100, 0, mirror=CANARY_HOST), Rule(100, 0)]
    assert len(rules(cluster)) == 1
    assert_rolled_back_on_errors(cluster)
    assert iterations(cluster) < ITERATIONS  # the first check failed already


# -- A/B testing --------------------------------------------------------------------------------


def assert_ab_rules(cluster: Cluster, match_rule: Rule) -> None:
    """The match rule first (the header condition, `match_rule`'s routes), then the
    default rule sending everything else to the primary."""
    match, default = rules(cluster)
    assert match["match"] == [INSIDER]
    assert rule_of(match) == match_rule
    assert "match" not in default
    assert [(r["destination"]["host"], r["weight"]) for r in default["route"]] == [
        (PRIMARY_HOST, 100)]


def set_match_share(cluster: Cluster, percent: int) -> None:
    """The share of the simulated requests carrying `x-canary: insider` (set after the
    operator created the VirtualService; the operator never removes annotations)."""
    cluster.custom.patch_namespaced_custom_object(
        *ISTIO, cluster.namespace, "virtualservices", NAME,
        {"metadata": {"annotations": {MATCH_SHARE: str(percent)}}})


def test_ab_testing_routes_the_matching_requests_to_the_canary_and_promotes(
    cluster: Cluster, mesh: MeshSimulator
) -> None:
    initialize(cluster, iterations=ITERATIONS, match=[INSIDER])
    assert_ab_rules(cluster, Rule(100, 0))
    set_match_share(cluster, 20)
    sampler = Sampler(lambda: first_rule(cluster))
    cluster.set_image(GOOD)
    wait_iteration(cluster, 2)
    assert iterations(cluster) <= ITERATIONS
    assert_ab_rules(cluster, Rule(0, 100))
    # The default rule's requests all reach the primary, the matching ones the canary.
    routes = _routes(mesh, cluster.namespace)
    assert {r.host for r in routes if r.rule == 1 and r.requests} == {PRIMARY_HOST}
    assert any(r.rule == 0 and r.host == CANARY_HOST and r.requests for r in routes), routes
    cluster.wait_phase("Succeeded", timeout=90)

    assert sampler.stop() == [Rule(100, 0), Rule(0, 100), Rule(100, 0)]
    assert_ab_rules(cluster, Rule(100, 0))
    assert_promoted(cluster)
    assert_iteration_events(cluster)
    annotations = (virtual_service(cluster) or {})["metadata"]["annotations"]
    assert annotations[MATCH_SHARE] == "20"


def test_ab_testing_with_an_erroring_canary_rolls_back(cluster: Cluster) -> None:
    initialize(cluster, iterations=ITERATIONS, match=[INSIDER])
    set_match_share(cluster, 20)
    sampler = Sampler(lambda: first_rule(cluster))
    cluster.set_image(BAD, annotations={ERROR_RATE: "0.2"})
    cluster.wait_phase("Failed", timeout=90)

    assert sampler.stop() == [Rule(100, 0), Rule(0, 100), Rule(100, 0)]
    assert_ab_rules(cluster, Rule(100, 0))
    assert_rolled_back_on_errors(cluster)


# -- canary with mirroring ----------------------------------------------------------------------


def test_a_canary_with_mirroring_first_mirrors_then_shifts_weight(cluster: Cluster) -> None:
    """The first step only mirrors half of the requests (100/0, `mirror` and
    `mirrorPercentage`); the checks on the shadowed requests pass; the weight then steps
    up without mirroring to maxWeight, and the release is promoted."""
    initialize(cluster, stepWeight=25, maxWeight=50, mirror=True, mirrorWeight=50)
    sampler = Sampler(lambda: first_rule(cluster))
    cluster.set_image(GOOD)
    cluster.wait_phase("Succeeded", timeout=90)

    assert sampler.stop() == [
        Rule(100, 0), Rule(100, 0, mirror=CANARY_HOST, mirror_percent=50),
        Rule(75, 25), Rule(50, 50), Rule(100, 0)]
    assert "mirror" not in rules(cluster)[0] and "mirrorPercentage" not in rules(cluster)[0]
    assert_promoted(cluster)  # no failed check: the shadowed requests were measured
    events = cluster.events()
    for weight in (0, 25, 50):
        assert f"Advance {NAME}.{cluster.namespace} canary weight {weight}" in events, events


def test_blue_green_resumes_its_iterations_and_mirroring_after_an_operator_restart(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    """Killed mid-iterations, the operator resumes from the status: the same iteration
    count, mirroring still on, no iteration repeated or skipped."""
    initialize(cluster, iterations=ITERATIONS, mirror=True)
    sampler = Sampler(lambda: first_rule(cluster))
    cluster.set_image(GOOD)
    wait_iteration(cluster, 1)
    operator.restart()
    cluster.wait_phase("Succeeded", timeout=90)

    assert sampler.stop() == [Rule(100, 0), Rule(100, 0, mirror=CANARY_HOST), Rule(0, 100),
                              Rule(100, 0)]
    assert operator.starts == 2
    assert_promoted(cluster)
    events = cluster.events()
    for i in range(1, ITERATIONS + 1):
        text = f"Advance {NAME}.{cluster.namespace} canary iteration {i}/{ITERATIONS}"
        assert events.count(text) == 1, (text, events)
    assert events.count(f"Starting canary analysis for {NAME}.{cluster.namespace}") == 1
