"""`kubectl canary` on the lab: the installed `kubectl-canary` script as a process against
the real API server, the operator as a process, real Prometheus fed by a test exporter."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_api_client import PrometheusConnect

from canary_operator.api.commands import ANNOTATION_COMMAND, ANNOTATION_PAUSED, ANNOTATION_PAUSED_BY
from canary_operator.lab import Lab
from canary_operator.metrics.builtin import builtin_query
from tests.canary_cluster import Cluster, WeightSampler, dedupe
from tests.integration.test_operator_canary import (
    BAD,
    GOOD,
    NAME,
    _initialized,
    example,
    serve_canary,
)
from tests.istio_exporter import IstioExporter
from tests.operator_harness import OperatorProcess

PLUGIN = Path(sys.executable).parent / "kubectl-canary"
# The lab's kubeconfig user is a client certificate with CN lab-admin: SelfSubjectReview
# names it so.
LAB_USER = "lab-admin"


def kc(lab: Lab, namespace: str, *args: str, timeout: float = 60
       ) -> subprocess.CompletedProcess[str]:
    """Run `kubectl-canary ARGS -n NAMESPACE` with the lab's kubeconfig."""
    return subprocess.run(
        [str(PLUGIN), *args, "-n", namespace], capture_output=True, text=True,
        timeout=timeout, env={**os.environ, "KUBECONFIG": str(lab.state.kubeconfig),
                              "COLUMNS": "120"}, check=False)


def annotations(cluster: Cluster) -> dict[str, str]:
    return dict(cluster.canary()["metadata"].get("annotations") or {})


def status(cluster: Cluster) -> dict[str, Any]:
    return dict(cluster.canary().get("status") or {})


# --- get --------------------------------------------------------------------------------------


def test_get_shows_the_table_and_the_rich_view_of_a_real_canary(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess,
    prometheus_url: str,
) -> None:
    _initialized(cluster, exporter, example(cluster.namespace, interval="5s"))
    table = kc(cluster.lab, cluster.namespace, "get")
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "STATUS", "WEIGHT", "FAILED", "LAST", "TRANSITION"]
    assert row.split()[:4] == [NAME, "Initialized", "0", "0/5"]

    serve_canary(cluster, exporter, prometheus_url, rps=20, error_rate=0, latency_ms=40)
    cluster.set_image(GOOD)
    cluster.lab.wait_for(lambda: status(cluster).get("canaryWeight", 0) >= 20
                         and bool(status(cluster).get("checks")), "weight 20 with checks", 120)
    view = kc(cluster.lab, cluster.namespace, "get", NAME)
    assert view.returncode == 0, view.stderr
    text = view.stdout
    assert f"{NAME} in {cluster.namespace}   Progressing" in text
    assert "% of 50%" in text and "█" in text
    success = next(line for line in text.splitlines()
                   if line.startswith("✔  request-success-rate"))
    assert "✔" in success and "100.00%" in success and ">= 99%" in success
    assert "10s" in success
    assert "next step" in text
    assert "New revision detected" in text  # an event of the Canary

    everywhere = kc(cluster.lab, cluster.namespace, "get", "-A")
    assert any(line.split()[:2] == [cluster.namespace, NAME]
               for line in everywhere.stdout.splitlines())


def test_get_watch_prints_each_change_until_interrupted(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess,
    prometheus_url: str,
) -> None:
    _initialized(cluster, exporter, example(cluster.namespace))
    serve_canary(cluster, exporter, prometheus_url, rps=20)
    watcher = subprocess.Popen(
        [str(PLUGIN), "get", NAME, "--watch", "-n", cluster.namespace],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "KUBECONFIG": str(cluster.lab.state.kubeconfig)})
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in watcher.stdout or []],
                     daemon=True).start()
    headers: list[str] = []

    def next_header(deadline: float) -> str:
        while True:
            assert time.monotonic() < deadline, f"no more frames; saw {headers}"
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if line.startswith(f"{NAME} in "):
                headers.append(line.strip())
                return headers[-1]

    try:
        assert next_header(time.monotonic() + 60).endswith("Initialized")  # the first frame
        cluster.set_image(GOOD)
        deadline = time.monotonic() + 120
        while not headers[-1].endswith("Succeeded"):
            next_header(deadline)
        phases = dedupe_text(h.split()[-1] for h in headers)
        assert phases[0] == "Initialized" and phases[-1] == "Succeeded", phases
        assert "Progressing" in phases
    finally:
        watcher.send_signal(signal.SIGINT)
        code = watcher.wait(timeout=20)
    assert code == 130


def dedupe_text(values: Iterator[str] | list[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        if not out or out[-1] != value:
            out.append(value)
    return out


# --- status -----------------------------------------------------------------------------------


def test_status_exits_0_when_the_new_revision_is_promoted(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess,
    prometheus_url: str,
) -> None:
    _initialized(cluster, exporter, example(cluster.namespace, interval="3s"))
    serve_canary(cluster, exporter, prometheus_url, rps=20)
    idle = kc(cluster.lab, cluster.namespace, "status", NAME, "--timeout", "10s")
    assert idle.returncode == 0, idle.stdout + idle.stderr
    # Right after the bump the Canary still says Initialized: status waits for the new
    # revision to be taken up, then for its verdict.
    cluster.set_image(GOOD)
    done = kc(cluster.lab, cluster.namespace, "status", NAME, "--timeout", "2m", timeout=150)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Progressing" in done.stdout
    assert done.stdout.strip().endswith("rollout finished: Succeeded")
    assert cluster.phase() == "Succeeded"


def test_status_exits_1_when_the_release_is_rolled_back(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess,
    prometheus_url: str,
) -> None:
    _initialized(cluster, exporter, example(cluster.namespace, threshold=2))
    serve_canary(cluster, exporter, prometheus_url, rps=20, error_rate=0.2)
    cluster.set_image(BAD)
    failed = kc(cluster.lab, cluster.namespace, "status", NAME, "--timeout", "2m", timeout=150)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "rollout failed:" in failed.stdout
    assert cluster.phase() == "Failed"
    # Idle and Failed, nothing new: the verdict stands.
    again = kc(cluster.lab, cluster.namespace, "status", NAME, "--timeout", "5s")
    assert again.returncode == 1


def test_status_exits_2_when_the_rollout_outlasts_the_timeout(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess,
    prometheus_url: str,
) -> None:
    _initialized(cluster, exporter, example(cluster.namespace, interval="1m"))
    cluster.set_image(GOOD)
    slow = kc(cluster.lab, cluster.namespace, "status", NAME, "--timeout", "3s")
    assert slow.returncode == 2, slow.stdout + slow.stderr
    assert "timed out waiting for the rollout to end" in slow.stdout


def test_status_of_a_missing_canary_exits_3(cluster: Cluster, canary_crds: None
                                             ) -> None:
    missing = kc(cluster.lab, cluster.namespace, "status", "nope", "--timeout", "2s")
    assert missing.returncode == 3
    assert f"Canary {cluster.namespace}/nope not found" in missing.stderr


# --- lint -------------------------------------------------------------------------------------


def test_lint_runs_each_query_for_canary_and_primary_against_prometheus(
    lab: Lab, namespace: str, exporter: IstioExporter, prometheus_url: str,
    tmp_path: Path,
) -> None:
    exporter.set_behaviour(namespace, NAME, rps=20, error_rate=0.1, latency_ms=40)
    exporter.set_behaviour(namespace, f"{NAME}-primary", rps=20, latency_ms=40)
    prom = PrometheusConnect(url=prometheus_url)
    for workload in (NAME, f"{NAME}-primary"):
        query = builtin_query("request-success-rate", namespace, workload, "10s")
        lab.wait_for(lambda q=query: bool(prom.custom_query(q)),  # type: ignore[misc]
                     f"Prometheus to rate {workload}", 60)
    canary = example(namespace)
    canary["spec"]["analysis"]["metrics"] += [
        {"name": "absent", "templateRef": {"name": "absent"}, "interval": "10s",
         "thresholdRange": {"max": 1}},
        {"name": "per-series", "interval": "10s", "thresholdRange": {"min": 0},
         "query": 'sum by (response_code) (rate(istio_requests_total{'
                  'destination_workload="{{ target }}"}[{{ interval }}]))'},
    ]
    template = {"apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate",
                "metadata": {"name": "absent", "namespace": namespace},
                "spec": {"provider": {"type": "prometheus", "address": prometheus_url},
                         "query": 'sum(rate(does_not_exist_total{app="{{ target }}"}'
                                  '[{{ interval }}]))'}}
    path = tmp_path / "canary.yaml"
    path.write_text(json.dumps(canary) + "\n---\n" + json.dumps(template))

    linted = subprocess.run(
        [str(PLUGIN), "lint", str(path), "--prometheus", prometheus_url],
        capture_output=True, text=True, timeout=60, check=False)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    out = linted.stdout.splitlines()
    canary_rate = next(line for line in out if line.strip().startswith(f"canary   {NAME} ")
                       and "%" in line)
    assert "✘ would fail (< 99%)" in canary_rate
    rate = float(canary_rate.split()[2].rstrip("%"))  # 10% errors over a short window
    assert 85 < rate < 95, canary_rate
    primary_rate = next(line for line in out if f"{NAME}-primary" in line and "%" in line)
    assert "100.00%" in primary_rate and "✔ would pass" in primary_rate
    text = linted.stdout
    duration = next(line for line in out if f"{NAME}-primary" in line and "ms " in line)
    assert "✔ would pass" in duration
    assert "empty result (no series): counts as NoData" in text
    assert "✘ NoData: would fail" in text
    assert "2 series: Flagger silently takes the last one" in text

    broken = path.read_text().replace('"stepWeight": 10', '"stepWeight": 0')
    path.write_text(broken)
    invalid = subprocess.run([str(PLUGIN), "lint", str(path)], capture_output=True, text=True,
                             timeout=60, check=False)
    assert invalid.returncode == 1
    assert (f"Canary {namespace}/{NAME}: spec.analysis.stepWeight must be between 1 and 100 "
            "(got 0)") in invalid.stdout


# --- commands: the annotations ----------------------------------------------------------------


def test_commands_are_annotations_with_the_identity_from_the_api_server(
    cluster: Cluster, canary_crds: None,
) -> None:
    cluster.apply_canary(example(cluster.namespace))  # no operator: nobody answers
    sent = kc(cluster.lab, cluster.namespace, "promote", NAME, "--full", "--no-wait")
    assert sent.returncode == 0, sent.stderr
    command = json.loads(annotations(cluster)[ANNOTATION_COMMAND])
    assert command["action"] == "promote-full" and command["user"] == LAB_USER
    assert uuid.UUID(command["id"]).version == 4
    assert command["time"].endswith("Z")
    assert command["id"] in sent.stdout

    unanswered = kc(cluster.lab, cluster.namespace, "abort", NAME, "--timeout", "2s")
    assert unanswered.returncode == 2
    assert "replacing promote-full by lab-admin" in unanswered.stdout
    assert "did not answer within 2s" in unanswered.stdout
    assert json.loads(annotations(cluster)[ANNOTATION_COMMAND])["action"] == "abort"

    assert kc(cluster.lab, cluster.namespace, "pause", NAME).returncode == 0
    assert annotations(cluster)[ANNOTATION_PAUSED] == "true"
    assert annotations(cluster)[ANNOTATION_PAUSED_BY] == LAB_USER
    assert kc(cluster.lab, cluster.namespace, "resume", NAME).returncode == 0
    assert ANNOTATION_PAUSED not in annotations(cluster)
    assert ANNOTATION_PAUSED_BY not in annotations(cluster)


# --- commands carried out by the operator -----------------------------------------------------
# The operator's side landed with "Operator honours kubectl canary commands" (1d9b90b).


def progressing_slowly(cluster: Cluster, source: IstioExporter, url: str,
                       interval: str = "20s") -> dict[str, Any]:
    """A healthy release in Progressing whose steps are `interval` apart."""
    _initialized(cluster, source, example(cluster.namespace, interval=interval))
    serve_canary(cluster, source, url, rps=20)
    cluster.set_image(GOOD)
    cluster.wait_phase("Progressing", timeout=120)
    return status(cluster)


def test_promote_takes_the_next_step_without_waiting_for_the_interval(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess,
    prometheus_url: str,
) -> None:
    before = progressing_slowly(cluster, exporter, prometheus_url)
    started = time.monotonic()
    promoted = kc(cluster.lab, cluster.namespace, "promote", NAME)
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert "Done" in promoted.stdout
    assert time.monotonic() - started < 15  # answered well before the 20s step was due
    after = status(cluster)
    assert after["canaryWeight"] > before.get("canaryWeight", 0)
    assert after["lastCommand"]["user"] == LAB_USER
    events = cluster.wait_event(f"Promoted by {LAB_USER}")
    assert any(m.startswith(f"Promoted by {LAB_USER}") for m in events)


def test_promote_full_goes_to_promoting(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess,
    prometheus_url: str,
) -> None:
    progressing_slowly(cluster, exporter, prometheus_url)
    promoted = kc(cluster.lab, cluster.namespace, "promote", NAME, "--full")
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert status(cluster)["phase"] in ("Promoting", "Finalising", "Succeeded")
    events = cluster.wait_event(f"Promoted fully by {LAB_USER}")
    assert any(m.startswith(f"Promoted fully by {LAB_USER}") for m in events)


def test_abort_rolls_back_and_a_second_abort_is_ignored(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess,
    prometheus_url: str,
) -> None:
    progressing_slowly(cluster, exporter, prometheus_url)
    aborted = kc(cluster.lab, cluster.namespace, "abort", NAME)
    assert aborted.returncode == 0, aborted.stdout + aborted.stderr
    cluster.wait_phase("Failed", timeout=30)
    cluster.wait_event(f"aborted by {LAB_USER}")
    again = kc(cluster.lab, cluster.namespace, "abort", NAME)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "Ignored: nothing to abort in phase Failed" in again.stdout


def test_retry_runs_the_failed_revision_again_until_it_succeeds(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess,
    prometheus_url: str,
) -> None:
    _initialized(cluster, exporter, example(cluster.namespace, threshold=1))
    serve_canary(cluster, exporter, prometheus_url, rps=20, error_rate=0.5)
    cluster.set_image(BAD)
    cluster.wait_phase("Failed", timeout=120)
    # The errors were the environment's (a dependency), not the release's: retry it.
    exporter.set_behaviour(cluster.namespace, NAME, rps=20, error_rate=0)
    cluster.lab.wait_for(lambda: _canary_success_rate(prometheus_url, cluster) >= 99.5,
                         "the canary's success rate to recover", 60)
    retried = kc(cluster.lab, cluster.namespace, "retry", NAME)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    done = kc(cluster.lab, cluster.namespace, "status", NAME, "--timeout", "2m", timeout=150)
    assert done.returncode == 0, done.stdout + done.stderr
    primary = cluster.deployment(f"{NAME}-primary")
    assert primary.spec and primary.spec.template.spec
    assert primary.spec.template.spec.containers[0].image == BAD  # the same revision
    assert any(m.startswith(f"Retrying {NAME}") and f"by {LAB_USER}" in m
               for m in cluster.events())


def _canary_success_rate(url: str, cluster: Cluster) -> float:
    query = builtin_query("request-success-rate", cluster.namespace, NAME, "10s")
    result = PrometheusConnect(url=url).custom_query(query)
    return float(result[0]["value"][1]) if result else 0.0


def test_pause_holds_the_weight_and_resume_goes_on(
    cluster: Cluster, exporter: IstioExporter, operator: OperatorProcess,
    prometheus_url: str,
) -> None:
    _initialized(cluster, exporter, example(cluster.namespace))
    serve_canary(cluster, exporter, prometheus_url, rps=20)
    cluster.set_image(GOOD)
    cluster.lab.wait_for(lambda: (cluster.weights() or (0, 0))[1] >= 20, "weight 20", 120)
    assert kc(cluster.lab, cluster.namespace, "pause", NAME).returncode == 0
    cluster.lab.wait_for(lambda: status(cluster).get("reason") == "Paused",
                         "the operator to report the pause", 30)
    held = cluster.weights()
    # Nothing moves over five ticks the operator logs as paused.
    sampler = WeightSampler(cluster.weights)
    paused_ticks = f"{NAME}.{cluster.namespace} paused by {LAB_USER}"
    before = operator.log().count(paused_ticks)
    cluster.lab.wait_for(lambda: operator.log().count(paused_ticks) >= before + 5,
                         "five ticks paused", 30)
    assert held is not None
    assert dedupe(sampler.stop()) == [held[1]]
    assert status(cluster)["phase"] == "Progressing"
    assert any(m.startswith(f"Paused {NAME}.{cluster.namespace} by {LAB_USER}")
               for m in cluster.events())
    view = kc(cluster.lab, cluster.namespace, "get", NAME)
    assert "PAUSED" in view.stdout and f"yes, by {LAB_USER}" in view.stdout

    assert kc(cluster.lab, cluster.namespace, "resume", NAME).returncode == 0
    done = kc(cluster.lab, cluster.namespace, "status", NAME, "--timeout", "2m", timeout=150)
    assert done.returncode == 0, done.stdout + done.stderr
    assert any(m.startswith(f"Resumed {NAME}.{cluster.namespace} by {LAB_USER}")
               for m in cluster.events())
