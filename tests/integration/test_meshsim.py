"""The mesh simulator on the lab: a VirtualService's weights become Istio request metrics
that Flagger's builtin queries read from a real Prometheus."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kubernetes import client
from prometheus_api_client import PrometheusConnect

from canary_operator.api.canary import REQUEST_DURATION, REQUEST_SUCCESS_RATE
from canary_operator.lab import Lab
from canary_operator.lab.meshsim import ERROR_RATE, LATENCY_MS, MeshSimulator
from canary_operator.lab.processes import free_port
from canary_operator.lab.workloads import deployment, rollout_complete
from canary_operator.metrics.builtin import builtin_query
from tests.conftest import StartPrometheus

ISTIO = ("networking.istio.io", "v1beta1")


def _virtual_service(primary: int, canary: int) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": {"name": "podinfo"},
        "spec": {"hosts": ["podinfo"], "http": [{"route": [
            {"destination": {"host": "podinfo-primary"}, "weight": primary},
            {"destination": {"host": "podinfo-canary"}, "weight": canary},
        ]}]},
    }


def _service(name: str, app: str) -> client.V1Service:
    return client.V1Service.model_validate({
        "metadata": {"name": name},
        "spec": {"selector": {"app": app},
                 "ports": [{"name": "http", "port": 9898, "targetPort": 9898}]},
    })


@pytest.fixture
def podinfo_canary(lab: Lab, api: client.ApiClient, namespace: str) -> str:
    """Flagger's objects by hand: a healthy primary, a canary that errs 20% and is slow,
    Services for both, and a VirtualService sending them 90/10."""
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(namespace, client.V1Deployment.model_validate(
        deployment("podinfo-primary", "podinfo:6.9.0", replicas=2)))
    apps.create_namespaced_deployment(namespace, client.V1Deployment.model_validate(
        deployment("podinfo", "podinfo:6.9.1", replicas=1,
                   annotations={ERROR_RATE: "0.2", LATENCY_MS: "800"})))
    core.create_namespaced_service(namespace, _service("podinfo-primary", "podinfo-primary"))
    core.create_namespaced_service(namespace, _service("podinfo-canary", "podinfo"))
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        *ISTIO, namespace, "virtualservices", _virtual_service(90, 10))
    for name in ("podinfo-primary", "podinfo"):
        lab.wait_for(lambda name=name: rollout_complete(  # type: ignore[misc]
            apps.read_namespaced_deployment(name, namespace)), f"{namespace}/{name} available")
    return namespace


@pytest.fixture
def simulator(lab: Lab, podinfo_canary: str) -> Iterator[MeshSimulator]:
    with MeshSimulator(lab.state.kubeconfig, namespaces=[podinfo_canary]) as sim:
        sim.start()
        yield sim


def _value(prom: PrometheusConnect, query: str) -> float:
    result = prom.custom_query(query)
    return float(result[0]["value"][1]) if result else math.nan


def test_builtin_queries_read_the_modelled_success_rate_and_latency(
    lab: Lab, api: client.ApiClient, prometheus: StartPrometheus, simulator: MeshSimulator,
    podinfo_canary: str,
) -> None:
    namespace = podinfo_canary
    prom = PrometheusConnect(url=prometheus([simulator.scrape_job()]))

    def builtin(metric: str, target: str) -> float:
        return _value(prom, builtin_query(metric, namespace, target, "10s"))

    lab.wait_for(lambda: 72 <= builtin(REQUEST_SUCCESS_RATE, "podinfo") <= 88,
                 "the canary's success rate to read ~80%", timeout=60)
    lab.wait_for(lambda: builtin(REQUEST_SUCCESS_RATE, "podinfo-primary") == 100,
                 "the primary's success rate to read 100%", timeout=30)
    lab.wait_for(lambda: 500 < builtin(REQUEST_DURATION, "podinfo") <= 2500,
                 "the canary's P99 to read between 500 ms and 2.5 s", timeout=30)
    lab.wait_for(lambda: builtin(REQUEST_DURATION, "podinfo-primary") < 250,
                 "the primary's P99 to read under 250 ms", timeout=30)

    (vs,) = simulator.snapshot().virtual_services
    assert [(r.host, r.weight, r.workloads) for r in vs.routes] == [
        ("podinfo-primary", 90, ("podinfo-primary",)), ("podinfo-canary", 10, ("podinfo",))]

    canary_rate = (
        'sum(rate(istio_requests_total{reporter="destination",'
        f'destination_workload_namespace="{namespace}",destination_workload="podinfo"}}[5s]))'
    )
    lab.wait_for(lambda: 1 <= _value(prom, canary_rate) <= 3,
                 "the canary to get ~2 of 20 requests/s", timeout=30)

    custom = client.CustomObjectsApi(api)
    current: dict[str, Any] = custom.get_namespaced_custom_object(  # type: ignore[assignment]
        *ISTIO, namespace, "virtualservices", "podinfo")
    current["spec"] = _virtual_service(50, 50)["spec"]
    custom.replace_namespaced_custom_object(*ISTIO, namespace, "virtualservices", "podinfo",
                                            current)
    changed = time.monotonic()
    lab.wait_for(lambda: [r.weight for r in simulator.snapshot().virtual_services[0].routes]
                 == [50, 50], "the simulator to see 50/50", timeout=1)
    lab.wait_for(lambda: _value(prom, canary_rate) > 7,
                 "the canary's request rate to rise towards 10/s", timeout=15)
    assert time.monotonic() - changed < 15


def test_the_command_serves_metrics_until_ctrl_c(lab: Lab, podinfo_canary: str) -> None:
    port = free_port()
    command = subprocess.Popen(
        [sys.executable, "-m", "canary_operator.cli.main", "lab", "meshsim",
         "--kubeconfig", str(lab.state.kubeconfig), "--port", str(port),
         "--rps", "40", "--namespace", podinfo_canary],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        def serves_the_canary() -> bool:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx.HTTPError:
                assert command.poll() is None, command.communicate()[0]
                return False
            return f'destination_workload="podinfo",destination_workload_namespace=' \
                   f'"{podinfo_canary}"' in text
        lab.wait_for(serves_the_canary, "`canary-operator lab meshsim` to serve", timeout=60)
    finally:
        command.send_signal(signal.SIGINT)
        output, _ = command.communicate(timeout=20)
    assert command.returncode == 130, output
    assert f"serving http://127.0.0.1:{port}/metrics" in output
