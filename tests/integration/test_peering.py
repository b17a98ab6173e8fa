"""Peered replicas (the chart's replicas > 1): the real operator, the chart's kopf.dev CRDs
and the peering object the chart creates; only the highest-priority replica works."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from canary_operator.lab import Lab
from canary_operator.lab.crds import install_crds
from tests.deploy_tools import CHART
from tests.operator_harness import OperatorProcess
from tests.unit.test_api_models import example

PEERING = "canary-operator"
PAUSED = "Pausing operations in favour of"
RESUMED = "Resuming operations"


@pytest.fixture(scope="module")
def chart_crds(api: client.ApiClient) -> None:
    for path in sorted((CHART / "crds").glob("*.yaml")):
        install_crds(api, path)


def _peers(api: client.ApiClient, namespace: str) -> dict[str, Any]:
    body = client.CustomObjectsApi(api).get_namespaced_custom_object(
        "kopf.dev", "v1", namespace, "kopfpeerings", PEERING)
    return dict(body.get("status") or {})


@pytest.fixture
def replicas(lab: Lab, api: client.ApiClient, namespace: str, chart_crds: None,
             tmp_path: Path) -> Iterator[dict[str, OperatorProcess]]:
    # What templates/peering.yaml creates for an operator watching this namespace.
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        "kopf.dev", "v1", namespace, "kopfpeerings",
        {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": PEERING}})
    started: dict[str, OperatorProcess] = {}
    for name, priority in (("high", 200), ("low", 100)):
        log_dir = tmp_path / name
        log_dir.mkdir()
        started[name] = OperatorProcess(lab, [namespace], "http://127.0.0.1:9", log_dir,
                                        extra_env={
                                            "CANARY_OPERATOR_PEERING": PEERING,
                                            "CANARY_OPERATOR_PEERING_PRIORITY": str(priority),
                                            "POD_ID": name,  # kopf's identity, as in a pod
                                        })
        started[name].start()
    yield started
    for process in started.values():
        process.stop()


def _paused(log: str) -> bool:
    """A peered operator starts paused (its peering is mandatory) and says so only when its
    state changes: paused unless its last word on it was a resume."""
    return log.rfind(RESUMED) <= log.rfind(PAUSED)


def _handled(log: str, namespace: str, name: str) -> bool:
    """Whether the operator's log says anything about the Canary (whatever the format)."""
    return any(namespace in line and name in line for line in log.splitlines())


def _create_canary(api: client.ApiClient, namespace: str, name: str) -> None:
    body = example()
    body["metadata"] = {"name": name, "namespace": namespace}
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        "flagger.app", "v1beta1", namespace, "canaries", body)


def test_of_two_peered_replicas_only_the_higher_priority_one_works_until_it_stops(
    lab: Lab, api: client.ApiClient, namespace: str, replicas: dict[str, OperatorProcess]
) -> None:
    high, low = replicas["high"], replicas["low"]
    lab.wait_for(lambda: set(_peers(api, namespace)) == {"high", "low"},
                 "both replicas' keep-alives in the KopfPeering", timeout=60)
    assert _peers(api, namespace)["high"]["priority"] == 200
    lab.wait_for(lambda: RESUMED in high.log(), "the higher-priority replica to work",
                 timeout=60)
    lab.wait_for(lambda: _paused(low.log()), "the lower-priority replica to stand by",
                 timeout=60)

    # Work for the operator: a Canary whose target does not exist (reported, not fatal).
    _create_canary(api, namespace, "orphan")
    lab.wait_for(lambda: _handled(high.log(), namespace, "orphan"),
                 "the working replica to handle the Canary", timeout=60)
    assert not _handled(low.log(), namespace, "orphan")

    high.stop()  # a clean shutdown withdraws its keep-alive at once
    lab.wait_for(lambda: _handled(low.log(), namespace, "orphan"),
                 "the standby replica to take the Canary over", timeout=60)
    assert not _paused(low.log())
    assert set(_peers(api, namespace)) == {"low"}
