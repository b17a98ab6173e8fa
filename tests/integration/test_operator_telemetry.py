"""What the operator shows and how it is driven from outside, through the real operator on
the lab: its own `/metrics` (Flagger's names) during and after a promotion and a rollback,
and the load tester's manual promotion gate and hey load as webhooks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from canary_operator.lab import Lab
from tests.canary_cluster import Cluster, WeightSampler, dedupe
from tests.integration.test_operator_canary import (
    GOOD,
    NAME,
    _initialized,
    example,
    serve_canary,
)
from tests.istio_exporter import IstioExporter
from tests.operator_harness import OperatorProcess

# -- the operator's /metrics -------------------------------------------------------------


def scrape(operator: OperatorProcess) -> list[Sample]:
    """Every sample the operator serves, or none while it is not listening yet."""
    try:
        answer = httpx.get(f"http://{operator.metrics_address}/metrics", timeout=5)
    except httpx.TransportError:
        return []
    answer.raise_for_status()
    return [sample for family in text_string_to_metric_families(answer.text)
            for sample in family.samples]


def value(samples: list[Sample], sample: str, /, **labels: str) -> float | None:
    """The value of the one sample named `sample` whose labels include `labels`; None
    if there is none."""
    found = [s.value for s in samples
             if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) <= 1, (sample, labels, found)
    return found[0] if found else None


def test_flaggers_metrics_follow_a_promotion(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess,
    prometheus_url: str,
) -> None:
    ns = cluster.namespace
    _initialized(cluster, exporter, example(ns))
    serve_canary(cluster, exporter, prometheus_url, rps=20, error_rate=0, latency_ms=40)
    samples = scrape(operator)
    info = [s for s in samples if s.name == "flagger_info"]
    assert len(info) == 1 and info[0].value == 1, info
    assert info[0].labels["mesh_provider"] == "istio" and info[0].labels["version"]
    assert value(samples, "flagger_canary_total", namespace=ns) == 1
    assert value(samples, "flagger_canary_status", name=NAME, namespace=ns) == 1

    cluster.set_image(GOOD)
    during: list[Sample] = []

    def progressing_seen() -> bool:
        during[:] = scrape(operator)
        canary_weight = value(during, "flagger_canary_weight", workload=NAME, namespace=ns)
        return (value(during, "flagger_canary_status", name=NAME, namespace=ns) == 0
                and canary_weight is not None and canary_weight >= 10)

    cluster.lab.wait_for(progressing_seen, "status 0 and a canary weight while Progressing", 60)
    primary_weight = value(during, "flagger_canary_weight", workload=f"{NAME}-primary",
                           namespace=ns)
    canary_weight = value(during, "flagger_canary_weight", workload=NAME, namespace=ns)
    assert primary_weight is not None and canary_weight is not None
    assert primary_weight + canary_weight == 100
    assert value(during, "flagger_canary_successes_total", name=NAME, namespace=ns) is None

    cluster.wait_phase("Succeeded", timeout=120)
    after: list[Sample] = []

    def counted() -> bool:
        after[:] = scrape(operator)
        return value(after, "flagger_canary_successes_total", name=NAME, namespace=ns,
                     deployment_strategy="canary", analysis_status="completed") == 1

    cluster.lab.wait_for(counted, "flagger_canary_successes_total to count the promotion", 30)
    assert value(after, "flagger_canary_status", name=NAME, namespace=ns) == 1
    assert value(after, "flagger_canary_weight", workload=f"{NAME}-primary", namespace=ns) == 100
    assert value(after, "flagger_canary_weight", workload=NAME, namespace=ns) == 0
    weights = {s.labels["workload"] for s in after
               if s.name == "flagger_canary_weight" and s.labels["namespace"] == ns}
    assert weights == {f"{NAME}-primary", NAME}
    success_rate = value(after, "flagger_canary_metric_analysis", name=NAME, namespace=ns,
                         metric="request-success-rate")
    assert success_rate is not None and success_rate >= 99, success_rate
    duration = value(after, "flagger_canary_metric_analysis", name=NAME, namespace=ns,
                     metric="request-duration")
    assert duration is not None and 0 < duration < 0.5, duration  # seconds, as Flagger
    ticks = value(after, "flagger_canary_duration_seconds_count", name=NAME, namespace=ns)
    assert ticks is not None and ticks > 0
    assert value(after, "flagger_canary_total", namespace=ns) == 1
    assert value(after, "flagger_canary_failures_total", name=NAME, namespace=ns) is None
    assert not [s for s in after if s.name.endswith("_created")]

    # A deleted Canary's series go; its namespace's count drops to 0.
    cluster.custom.delete_namespaced_custom_object("flagger.app", "v1beta1", ns, "canaries",
                                                   NAME)
    gone: list[Sample] = []

    def forgotten() -> bool:
        gone[:] = scrape(operator)
        return value(gone, "flagger_canary_total", namespace=ns) == 0

    cluster.lab.wait_for(forgotten, "flagger_canary_total to drop to 0", 30)
    left = [s for s in gone if s.labels.get("namespace") == ns
            and s.name != "flagger_canary_total"]
    assert not left, left


def test_a_rollback_counts_a_failure(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess,
    prometheus_url: str,
) -> None:
    ns = cluster.namespace
    _initialized(cluster, exporter, example(ns, threshold=2))
    serve_canary(cluster, exporter, prometheus_url, rps=20, error_rate=0.5)
    cluster.set_image(GOOD)
    cluster.wait_phase("Failed", timeout=120)
    after: list[Sample] = []

    def counted() -> bool:
        after[:] = scrape(operator)
        return value(after, "flagger_canary_failures_total", name=NAME, namespace=ns,
                     deployment_strategy="canary", analysis_status="completed") == 1

    cluster.lab.wait_for(counted, "flagger_canary_failures_total to count the rollback", 30)
    assert value(after, "flagger_canary_status", name=NAME, namespace=ns) == 2
    assert value(after, "flagger_canary_successes_total", name=NAME, namespace=ns) is None
    success_rate = value(after, "flagger_canary_metric_analysis", name=NAME, namespace=ns,
                         metric="request-success-rate")
    assert success_rate is not None and success_rate < 99, success_rate
    assert value(after, "flagger_canary_weight", workload=NAME, namespace=ns) == 0


# -- the load tester as the webhooks' other end ------------------------------------------


@pytest.fixture(scope="module")
def loadtester(lab: Lab) -> Iterator[str]:
    url = lab.start_loadtester()
    try:
        yield url
    finally:
        lab.stop_loadtester()


def test_a_manual_promotion_gate_holds_until_opened_on_the_loadtester(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess,
    prometheus_url: str, loadtester: str,
) -> None:
    canary = example(cluster.namespace)
    canary["spec"]["analysis"]["webhooks"] = [
        {"name": "manual-gate", "type": "confirm-promotion", "timeout": "5s",
         "url": f"{loadtester}/gate/check"}]
    _initialized(cluster, exporter, canary)
    serve_canary(cluster, exporter, prometheus_url, rps=20, error_rate=0, latency_ms=40)
    cluster.set_image(GOOD)

    cluster.wait_phase("WaitingPromotion", timeout=120)
    assert cluster.weights() == (50, 50)
    cluster.wait_event(f"Halt {NAME}.{cluster.namespace} advancement waiting for promotion "
                       "approval manual-gate")
    payload = {"name": NAME, "namespace": cluster.namespace}
    assert httpx.post(f"{loadtester}/gate/check", json=payload, timeout=5).status_code == 403

    assert httpx.post(f"{loadtester}/gate/open", json=payload, timeout=5).status_code == 202
    cluster.wait_phase("Succeeded", timeout=60)
    assert cluster.weights() == (100, 0)
    primary = cluster.deployment(f"{NAME}-primary")
    assert primary.spec and primary.spec.template.spec
    assert primary.spec.template.spec.containers[0].image == GOOD


@dataclass
class LoadTarget:
    """A local HTTP server counting the requests it answers."""

    url: str = ""
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> int:
        with self.lock:
            return len(self.paths)


@pytest.fixture
def load_target() -> Iterator[LoadTarget]:
    served = LoadTarget()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            with served.lock:
                served.paths.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield served
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_a_rollout_hook_runs_hey_on_the_loadtester_during_the_analysis(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess,
    prometheus_url: str, loadtester: str, load_target: LoadTarget,
) -> None:
    canary = example(cluster.namespace)
    canary["spec"]["analysis"]["webhooks"] = [
        {"name": "load-test", "type": "rollout", "timeout": "5s", "url": f"{loadtester}/",
         "metadata": {"type": "cmd",
                      "cmd": f"hey -z 10s -q 10 -c 2 {load_target.url}/podinfo"}}]
    _initialized(cluster, exporter, canary)
    assert load_target.count() == 0, "no load before a new revision"
    serve_canary(cluster, exporter, prometheus_url, rps=20, error_rate=0, latency_ms=40)
    sampler = WeightSampler(cluster.weights)
    cluster.set_image(GOOD)

    cluster.wait_phase("Progressing", timeout=60)
    cluster.lab.wait_for(lambda: load_target.count() >= 10, "hey's requests", 30)
    assert cluster.phase() == "Progressing", "the load comes during the analysis"
    cluster.wait_phase("Succeeded", timeout=120)
    assert dedupe(sampler.stop()) == [0, 10, 20, 30, 40, 50, 0]
    with load_target.lock:
        assert set(load_target.paths) == {"/podinfo"}
