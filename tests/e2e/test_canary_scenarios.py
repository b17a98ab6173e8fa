"""Whole canaries on the lab: the operator as a process, the mesh simulator answering the
traffic the VirtualService routes, real Prometheus scraping it. Each test asserts the
phases, the weights over time (sampled from the VirtualService) and the final objects."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest
import yaml
from kubernetes import client

from canary_operator.lab import Lab
from canary_operator.lab.meshsim import MeshSimulator
from tests.canary_cluster import Cluster, WeightSampler, dedupe
from tests.operator_harness import OperatorProcess
from tests.paths import REPO

EXAMPLE = REPO / "examples" / "podinfo"
NAME = "podinfo"
GOOD, BAD = "ghcr.io/stefanprodan/podinfo:6.9.1", "ghcr.io/stefanprodan/podinfo:6.9.2"
ERROR_RATE = "lab.canary-operator.dev/error-rate"
LATENCY = "lab.canary-operator.dev/latency-ms"
NEVER_RUNS = "pod-container-running-failed.stage.kwok.x-k8s.io"
STEPS = [0, 10, 20, 30, 40, 50, 0]


def manifests(namespace: str, **analysis: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """examples/podinfo in the test's namespace, at test speed (2 s steps)."""
    deployment = yaml.safe_load((EXAMPLE / "deployment.yaml").read_text())
    canary = yaml.safe_load((EXAMPLE / "canary.yaml").read_text())
    for body in (deployment, canary):
        body["metadata"]["namespace"] = namespace
    canary["spec"]["progressDeadlineSeconds"] = 15
    canary["spec"]["analysis"].update({"interval": "2s", "threshold": 3, **analysis})
    for metric in canary["spec"]["analysis"]["metrics"]:
        metric["interval"] = "10s"
    return deployment, canary


@pytest.fixture
def podinfo(lab: Lab, api: client.ApiClient, namespace: str, operator: OperatorProcess,
            mesh: MeshSimulator) -> Cluster:
    """examples/podinfo applied and Initialized, traffic flowing to the primary."""
    deployment, canary = manifests(namespace)
    cluster = Cluster(lab, api, namespace, NAME)
    cluster.create_target(body=deployment)
    cluster.apply_canary(canary)
    cluster.wait_phase("Initialized", timeout=60)
    return cluster


def release(cluster: Cluster, image: str, until: str,
            **annotations: str) -> tuple[list[int], float]:
    """Bump the image (and the behaviour annotations); the canary weights seen and the
    seconds from the bump to `until`."""
    sampler = WeightSampler(cluster.weights)
    started = time.monotonic()
    try:
        cluster.set_image(image, annotations=annotations or None)
        cluster.wait_phase(until, timeout=180)
    finally:
        weights = dedupe(sampler.stop())
    return weights, time.monotonic() - started


def assert_rolled_back(cluster: Cluster) -> None:
    assert cluster.weights() == (100, 0)
    cluster.lab.wait_for(lambda: (cluster.deployment(NAME).spec.replicas or 0) == 0,  # type: ignore[union-attr]
                         "the canary to be scaled to zero")
    primary = cluster.deployment(f"{NAME}-primary")
    assert primary.spec and primary.spec.template.spec
    assert primary.spec.template.spec.containers[0].image.endswith(":6.9.0")
    events = cluster.wait_event(f"Canary failed! Scaling down {NAME}.")
    assert any(m.startswith(f"Canary failed! Scaling down {NAME}.") for m in events)


def test_a_good_release_is_promoted(podinfo: Cluster) -> None:
    weights, seconds = release(podinfo, GOOD, "Succeeded")
    assert weights == STEPS
    primary = podinfo.deployment(f"{NAME}-primary")
    assert primary.spec and primary.spec.template.spec
    assert primary.spec.template.spec.containers[0].image == GOOD
    assert podinfo.weights() == (100, 0)
    podinfo.lab.wait_for(lambda: (podinfo.deployment(NAME).spec.replicas or 0) == 0,  # type: ignore[union-attr]
                         "the canary to be scaled to zero")
    status = podinfo.canary()["status"]
    assert status["failedChecks"] == 0
    assert {c["name"]: c["outcome"] for c in status["checks"]} == {
        "request-success-rate": "Pass", "request-duration": "Pass"}
    assert seconds >= 5 * 2  # five steps of one 2 s interval each, at best


def test_an_erroring_release_rolls_back(podinfo: Cluster) -> None:
    weights, _ = release(podinfo, BAD, "Failed", **{ERROR_RATE: "0.2"})
    # The first check, two seconds into 10% of 20 requests/s, may not have seen an error
    # yet; by 20% the errors show.
    assert max(weights) <= 20, weights
    assert_rolled_back(podinfo)
    status = podinfo.canary()["status"]
    assert status["failedChecks"] >= 3
    failing = next(c for c in status["checks"] if c["name"] == "request-success-rate")
    assert failing["outcome"] == "Fail" and 70 < failing["value"] < 90


def test_a_slow_release_rolls_back(podinfo: Cluster) -> None:
    weights, _ = release(podinfo, BAD, "Failed", **{LATENCY: "800"})
    assert max(weights) <= 20, weights
    assert_rolled_back(podinfo)
    events = podinfo.events()
    assert any("request duration" in m and "> 500" in m for m in events), events


def test_a_slow_burn_regression_rolls_back_once_it_shows_at_30_percent(podinfo: Cluster) -> None:
    # Errors only once this version takes 30% of the traffic or more (a load-bound bug).
    weights, _ = release(podinfo, BAD, "Failed", **{
        ERROR_RATE: "0.5", "lab.canary-operator.dev/errors-from-weight": "30"})
    assert max(weights) in (30, 40), weights  # healthy at 10 and 20, failing from 30
    assert weights[-1] == 0
    assert_rolled_back(podinfo)


def test_pods_that_never_run_roll_back_at_the_progress_deadline(podinfo: Cluster) -> None:
    sampler = WeightSampler(podinfo.weights)
    started = time.monotonic()
    # kwok's chaos stage fails the containers as soon as they run (no delay, no jitter):
    # the pods never become Ready, as with a release that crashes on start.
    podinfo.apps.patch_namespaced_deployment(NAME, podinfo.namespace, {"spec": {"template": {
        "metadata": {"labels": {NEVER_RUNS: "true"},
                     "annotations": {f"{NEVER_RUNS}/delay": "0s",
                                     f"{NEVER_RUNS}/jitter-delay": "0s"}},
        "spec": {"containers": [{"name": NAME, "image": BAD}]}}}})
    podinfo.wait_phase("Failed", timeout=120)
    elapsed = time.monotonic() - started
    assert dedupe(sampler.stop()) == [0]  # no traffic ever went to it
    assert elapsed >= 15  # not before progressDeadlineSeconds
    events = podinfo.wait_event("progress deadline")
    assert any("progress deadline" in m for m in events), events
    assert_rolled_back(podinfo)


def test_prometheus_outage_holds_the_analysis_and_it_resumes(
    lab: Lab, podinfo: Cluster, prometheus_url: str, mesh: MeshSimulator
) -> None:
    sampler = WeightSampler(podinfo.weights)
    podinfo.set_image(GOOD)
    lab.wait_for(lambda: (podinfo.weights() or (0, 0))[1] >= 20, "weight 20", 60)
    lab.stop_prometheus()
    lab.wait_for(lambda: any("query failed" in m.lower() or "error" in m.lower()
                             for m in podinfo.events() if "request-" in m),
                 "a Warning naming the failed query", 30)
    held_at = podinfo.weights()
    status = podinfo.canary()["status"]
    assert status["failedChecks"] == 0  # an outage is not the release's fault
    assert {c["outcome"] for c in status["checks"]} == {"Error"}
    lab.wait_for(lambda: podinfo.canary()["status"]["checks"][0]["outcome"] == "Error",
                 "another tick in the outage", 10)
    assert podinfo.weights() == held_at  # no step taken blind
    port = int(prometheus_url.rsplit(":", 1)[1])
    lab.start_prometheus([mesh.scrape_job()], port=port)
    podinfo.wait_phase("Succeeded", timeout=120)
    assert dedupe(sampler.stop()) == STEPS
    assert podinfo.canary()["status"]["failedChecks"] == 0


def test_the_operator_restarted_mid_analysis_loses_and_repeats_nothing(
    podinfo: Cluster, operator: OperatorProcess
) -> None:
    sampler = WeightSampler(podinfo.weights)
    podinfo.set_image(BAD, annotations={ERROR_RATE: "0.05"})
    podinfo.lab.wait_for(lambda: podinfo.canary()["status"].get("failedChecks", 0) >= 1,
                         "a first failed check", 60)
    failed_before = podinfo.canary()["status"]["failedChecks"]
    operator.restart()
    podinfo.wait_phase("Failed", timeout=120)
    status = podinfo.canary()["status"]
    assert status["failedChecks"] >= max(failed_before, 3)
    assert dedupe(sampler.stop())[-1] == 0
    assert operator.starts == 2
    assert copy.deepcopy(status)["phase"] == "Failed"
