"""Two peered replicas of the real operator through ten rollouts on the lab, the working
one killed (SIGKILL) or stopped (SIGTERM) at a random moment of each and started again:
the Canary moves as if one operator had run it. No step is taken twice and no weight
jumps by more than one step, each good revision is promoted exactly once, and
failedChecks never goes below a value already written for the same revision."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from prometheus_api_client import PrometheusConnect

from canary_operator.lab import Lab
from canary_operator.metrics.builtin import builtin_query
from tests.canary_cluster import Cluster, Sampler, WeightSampler, dedupe
from tests.integration.test_operator_canary import NAME, _initialized, example, serve_canary
from tests.integration.test_peering import PEERING, chart_crds  # noqa: F401 (a fixture)
from tests.istio_exporter import IstioExporter
from tests.operator_harness import OperatorProcess

ROLLOUTS = 10
BAD = frozenset({3, 7})  # these releases answer half their requests with errors
LIFETIME = 4  # seconds a killed replica's keep-alive still counts


class Replicas:
    """Two operator processes peered through one KopfPeering; each start is a new kopf
    identity, and the working one is the one started first (the oldest has priority)."""

    def __init__(self, lab: Lab, namespace: str, prometheus_url: str, log_dir: Path) -> None:
        for name in "ab":
            (log_dir / name).mkdir()
        self.processes = [OperatorProcess(lab, [namespace], prometheus_url, log_dir / name)
                          for name in "ab"]
        self.started: dict[int, int] = {}  # process index -> start order
        self.drained = 0  # SIGTERMs that let the ticks finish first (the log says so)
        self._order = 0
        for index in range(len(self.processes)):
            self.start(index)

    def start(self, index: int) -> None:
        process = self.processes[index]
        self._order += 1
        process.extra_env = {
            "CANARY_OPERATOR_PEERING": PEERING,
            "CANARY_OPERATOR_PEERING_LIFETIME_SECONDS": str(LIFETIME),
            "POD_ID": f"{'ab'[index]}-{self._order}",
        }
        process.start()
        self.started[index] = self._order

    def working(self) -> int:
        return min(self.started, key=self.started.__getitem__)

    def fail(self, how: str) -> None:
        """Kill or stop the working replica, then start it again (it stands by now)."""
        index = self.working()
        process = self.processes[index]
        if how == "SIGKILL":
            process.kill()
        else:
            process.stop()
            self.drained += "SIGTERM: finishing the ticks under way" in (
                process.log_dir / f"operator-{process.starts}.log").read_text(errors="replace")
        self.start(index)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


@pytest.fixture
def replicas(lab: Lab, api: client.ApiClient, namespace: str, chart_crds: None,  # noqa: F811
             canary_crds: None, prometheus_url: str, tmp_path: Path) -> Iterator[Replicas]:
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        "kopf.dev", "v1", namespace, "kopfpeerings",
        {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": PEERING}})
    started = Replicas(lab, namespace, prometheus_url, tmp_path)
    yield started
    started.stop()


def image(i: int) -> str:
    return f"podinfo:7.0.{i}"


def test_a_hand_over_at_random_moments_never_lets_two_replicas_act(
    cluster: Cluster, exporter: IstioExporter, replicas: Replicas, prometheus_url: str
) -> None:
    chaos = random.Random(8)
    _initialized(cluster, exporter, example(cluster.namespace, threshold=2))
    serve_canary(cluster, exporter, prometheus_url, rps=20, error_rate=0, latency_ms=40)
    prom = PrometheusConnect(url=prometheus_url)
    success = builtin_query("request-success-rate", cluster.namespace, NAME, "10s")

    def primary_image() -> str:
        primary = cluster.deployment(f"{NAME}-primary")
        assert primary.spec and primary.spec.template.spec
        return str(primary.spec.template.spec.containers[0].image)

    def checks() -> tuple[str, int] | None:
        status = cluster.canary().get("status") or {}
        return status.get("lastAppliedSpec"), int(status.get("failedChecks") or 0)

    weights = WeightSampler(cluster.weights)
    images = Sampler(primary_image)
    counts: Sampler[Any] = Sampler(checks)
    failures: list[str] = []
    ends: list[tuple[str, int]] = []
    for i in range(1, ROLLOUTS + 1):
        before = (cluster.canary().get("status") or {}).get("lastAppliedSpec")
        if i in BAD:
            exporter.set_behaviour(cluster.namespace, NAME, rps=20, error_rate=0.5)
        cluster.set_image(image(i))
        time.sleep(chaos.uniform(0.5, 6.0))  # a random moment of the rollout
        how = chaos.choice(("SIGKILL", "SIGTERM"))
        replicas.fail(how)
        failures.append(how)

        def ended(before: Any = before) -> bool:
            status = cluster.canary().get("status") or {}
            return (status.get("lastAppliedSpec") not in (None, before)
                    and status.get("phase") in ("Succeeded", "Failed"))

        cluster.lab.wait_for(ended, f"rollout {i} to end", 180)
        status = cluster.canary()["status"]
        ends.append((status["phase"], int(status["failedChecks"])))
        if i in BAD:  # healthy again, and the bad window out of Prometheus' rate
            exporter.set_behaviour(cluster.namespace, NAME, rps=20, error_rate=0)
            cluster.lab.wait_for(
                lambda: any(float(r["value"][1]) >= 99 for r in prom.custom_query(success)),
                "the canary's success rate to recover", 60)

    walk = dedupe(weights.stop())
    promoted = images.stop()
    seen = counts.stop()
    assert sorted(set(failures)) == ["SIGKILL", "SIGTERM"], failures
    assert replicas.drained == failures.count("SIGTERM")
    assert ends == [("Failed", 2) if i in BAD else ("Succeeded", 0)
                    for i in range(1, ROLLOUTS + 1)], ends
    # One step at a time, forward, or back to 0 at the end of a rollout.
    jumps = [(a, b) for a, b in itertools.pairwise(walk) if not (b == a + 10 or b == 0)]
    assert jumps == [], walk
    good = [i for i in range(1, ROLLOUTS + 1) if i not in BAD]
    assert walk.count(50) == len(good), walk  # every good release reached maxWeight once
    # Each good revision promoted exactly once, in order; no bad one ever.
    assert promoted == ["podinfo:6.9.0", *(image(i) for i in good)], promoted
    # failedChecks of a revision never went back below a value already written.
    by_revision: dict[str, list[int]] = {}
    for revision, count in (s for s in seen if s[0] is not None):
        by_revision.setdefault(revision, []).append(count)
    backwards = {rev: c for rev, c in by_revision.items() if c != sorted(c)}
    assert backwards == {}, by_revision
    assert replicas.started and sum(p.starts for p in replicas.processes) == 2 + ROLLOUTS
