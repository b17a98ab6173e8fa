"""The operator's own metrics: Flagger's names, types and labels, what each call records,
and the HTTP endpoint."""

from __future__ import annotations

import importlib.metadata
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from canary_operator.api import CanarySpec, Phase
from canary_operator.telemetry import (
    DURATION_BUCKETS,
    MetricsEndpoint,
    Telemetry,
    operator_version,
    serve_metrics,
    strategy_of,
)

# Flagger's metrics (reference §4.1, pkg/metrics/recorder.go): sample name -> type, labels.
OUTCOME = frozenset({"name", "namespace", "deployment_strategy", "analysis_status"})
FLAGGER = {
    "flagger_info": ("gauge", frozenset({"version", "mesh_provider"})),
    "flagger_canary_total": ("gauge", frozenset({"namespace"})),
    "flagger_canary_status": ("gauge", frozenset({"name", "namespace"})),
    "flagger_canary_weight": ("gauge", frozenset({"workload", "namespace"})),
    "flagger_canary_metric_analysis": ("gauge", frozenset({"name", "namespace", "metric"})),
    "flagger_canary_duration_seconds": ("histogram", frozenset({"name", "namespace"})),
    "flagger_canary_successes_total": ("counter", OUTCOME),
    "flagger_canary_failures_total": ("counter", OUTCOME),
}
OURS = {
    "canary_operator_decisions_total": ("counter", frozenset({"namespace", "name", "reason"})),
    "canary_operator_failed_checks": ("gauge", frozenset({"name", "namespace"})),
    "canary_operator_metric_no_data_total": (
        "counter", frozenset({"name", "namespace", "metric"})),
}
NS = "test"


def make_telemetry() -> Telemetry:
    return Telemetry(version="1.2.3", mesh_provider="istio")


def tick(telemetry: Telemetry, *, name: str = "podinfo", namespace: str = NS,
         phase: str = "Progressing", primary: int | None = 90, canary: int | None = 10,
         seconds: float = 0.2, reason: str | None = "Advanced", failed_checks: int = 0) -> None:
    telemetry.observe_tick(name=name, namespace=namespace, phase=phase,
                           primary_weight=primary, canary_weight=canary, target=name,
                           seconds=seconds, reason=reason, failed_checks=failed_checks)


def everything(telemetry: Telemetry, name: str = "podinfo") -> None:
    """At least one series of every metric for one Canary."""
    tick(telemetry, name=name)
    telemetry.observe_metric(name=name, namespace=NS, metric="request-success-rate",
                             value=99.5)
    telemetry.observe_metric(name=name, namespace=NS, metric="error-rate", value=None)
    telemetry.count_outcome(name=name, namespace=NS, strategy="canary", status="completed",
                            succeeded=True)
    telemetry.count_outcome(name=name, namespace=NS, strategy="canary", status="completed",
                            succeeded=False)
    telemetry.set_canary_totals({NS: 1})


def samples(telemetry: Telemetry) -> list[Sample]:
    text = telemetry.exposition().decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(telemetry: Telemetry, sample_name: str, **labels: str) -> float | None:
    """The value of the one sample with exactly these labels, None if there is none."""
    found = [s.value for s in samples(telemetry)
             if s.name == sample_name and s.labels == labels]
    assert len(found) <= 1
    return found[0] if found else None


def series(telemetry: Telemetry, sample_name: str) -> list[dict[str, str]]:
    return [s.labels for s in samples(telemetry) if s.name == sample_name]


def shapes(telemetry: Telemetry) -> dict[str, tuple[str, frozenset[str]]]:
    """Sample name (histograms by their base name) -> family type and label names."""
    found: dict[str, tuple[str, frozenset[str]]] = {}
    for family in text_string_to_metric_families(telemetry.exposition().decode()):
        for sample in family.samples:
            name = family.name if family.type == "histogram" else sample.name
            labels = frozenset(sample.labels) - {"le"}
            assert found.setdefault(name, (family.type, labels)) == (family.type, labels)
    return found


# The exposition: Flagger's metrics exactly, and ours under their own prefix.

def test_every_metric_has_flaggers_name_type_and_labels() -> None:
    telemetry = make_telemetry()
    everything(telemetry)
    assert shapes(telemetry) == FLAGGER | OURS


def test_no_other_flagger_series_and_ours_carry_our_prefix() -> None:
    telemetry = make_telemetry()
    everything(telemetry)
    names = {s.name for s in samples(telemetry)}
    flagger_samples = {n for n in names if n.startswith("flagger_")}
    assert flagger_samples == {
        "flagger_info", "flagger_canary_total", "flagger_canary_status",
        "flagger_canary_weight", "flagger_canary_metric_analysis",
        "flagger_canary_duration_seconds_bucket", "flagger_canary_duration_seconds_sum",
        "flagger_canary_duration_seconds_count", "flagger_canary_successes_total",
        "flagger_canary_failures_total",
    }
    assert all(n.startswith("canary_operator_") for n in names - flagger_samples)
    assert not any(n.endswith("_created") for n in names)


def test_info_is_one_with_version_and_mesh() -> None:
    telemetry = make_telemetry()
    assert series(telemetry, "flagger_info") == [{"version": "1.2.3", "mesh_provider": "istio"}]
    assert value(telemetry, "flagger_info", version="1.2.3", mesh_provider="istio") == 1


def test_the_version_is_the_installed_distributions() -> None:
    assert operator_version() == importlib.metadata.version("canary-operator")


def test_the_duration_histogram_has_the_go_clients_default_buckets() -> None:
    telemetry = make_telemetry()
    tick(telemetry, seconds=0.3)
    tick(telemetry, seconds=4.0)
    buckets = {s.labels["le"]: s.value for s in samples(telemetry)
               if s.name == "flagger_canary_duration_seconds_bucket"}
    assert [float(le) for le in buckets] == [*DURATION_BUCKETS, float("inf")]
    assert DURATION_BUCKETS == (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
    assert (buckets["0.25"], buckets["0.5"], buckets["2.5"], buckets["5.0"]) == (0, 1, 1, 2)
    labels = {"name": "podinfo", "namespace": NS}
    assert value(telemetry, "flagger_canary_duration_seconds_count", **labels) == 2
    assert value(telemetry, "flagger_canary_duration_seconds_sum", **labels) == pytest.approx(4.3)


def test_each_telemetry_has_its_own_registry() -> None:
    first, second = make_telemetry(), make_telemetry()
    tick(first)
    assert first.registry is not second.registry
    assert series(second, "flagger_canary_status") == []
    assert REGISTRY.get_sample_value("flagger_info", {"version": "1.2.3",
                                                      "mesh_provider": "istio"}) is None


def test_a_given_registry_is_used_and_twice_in_one_is_refused() -> None:
    registry = CollectorRegistry()
    telemetry = Telemetry(version="1", mesh_provider="istio", registry=registry)
    assert telemetry.registry is registry
    assert registry.get_sample_value("flagger_info", {"version": "1",
                                                      "mesh_provider": "istio"}) == 1
    with pytest.raises(ValueError, match="Duplicated"):
        Telemetry(version="1", mesh_provider="istio", registry=registry)


# observe_tick

@pytest.mark.parametrize("phase", list(Phase))
def test_status_is_zero_progressing_two_failed_one_otherwise(phase: Phase) -> None:
    telemetry = make_telemetry()
    tick(telemetry, phase=phase)
    expected = {Phase.PROGRESSING: 0, Phase.FAILED: 2}.get(phase, 1)
    assert value(telemetry, "flagger_canary_status", name="podinfo", namespace=NS) == expected


def test_status_is_labelled_by_the_name_given_and_follows_the_phase() -> None:
    telemetry = make_telemetry()
    tick(telemetry, name="backend", phase="Progressing")
    tick(telemetry, name="backend", phase="Succeeded")
    assert series(telemetry, "flagger_canary_status") == [{"name": "backend",
                                                            "namespace": NS}]
    assert value(telemetry, "flagger_canary_status", name="backend", namespace=NS) == 1


def test_weights_are_two_series_primary_and_canary() -> None:
    telemetry = make_telemetry()
    telemetry.observe_tick(name="podinfo", namespace=NS, phase="Progressing",
                           primary_weight=70, canary_weight=30, target="podinfo",
                           seconds=0.1, reason="Advanced", failed_checks=0)
    assert sorted(series(telemetry, "flagger_canary_weight"), key=str) == [
        {"workload": "podinfo", "namespace": NS},
        {"workload": "podinfo-primary", "namespace": NS},
    ]
    assert value(telemetry, "flagger_canary_weight", workload="podinfo-primary",
                 namespace=NS) == 70
    assert value(telemetry, "flagger_canary_weight", workload="podinfo", namespace=NS) == 30


def test_unknown_weights_leave_the_last_ones() -> None:
    telemetry = make_telemetry()
    tick(telemetry, primary=60, canary=40)
    tick(telemetry, primary=None, canary=None)
    assert value(telemetry, "flagger_canary_weight", workload="podinfo-primary",
                 namespace=NS) == 60
    assert value(telemetry, "flagger_canary_weight", workload="podinfo", namespace=NS) == 40


def test_failed_checks_follow_the_last_tick() -> None:
    telemetry = make_telemetry()
    tick(telemetry, failed_checks=2)
    tick(telemetry, failed_checks=3)
    assert value(telemetry, "canary_operator_failed_checks", name="podinfo",
                 namespace=NS) == 3


def test_decisions_are_counted_by_reason_code() -> None:
    telemetry = make_telemetry()
    for reason in ("Advanced", "Advanced", "ChecksFailed", None):
        tick(telemetry, reason=reason)
    labels = {"namespace": NS, "name": "podinfo"}
    assert value(telemetry, "canary_operator_decisions_total", reason="Advanced",
                 **labels) == 2
    assert value(telemetry, "canary_operator_decisions_total", reason="ChecksFailed",
                 **labels) == 1
    assert len(series(telemetry, "canary_operator_decisions_total")) == 2


@pytest.mark.parametrize("reason", [
    "Halt podinfo.test advancement success rate 80.00% < 99%", "advanced", "",
    "Checks-Failed", "A" * 49,
])
def test_a_reason_that_is_not_a_short_code_is_counted_as_other(reason: str) -> None:
    telemetry = make_telemetry()
    tick(telemetry, reason=reason)
    assert series(telemetry, "canary_operator_decisions_total") == [
        {"namespace": NS, "name": "podinfo", "reason": "Other"}]


# observe_metric

def test_metric_analysis_holds_the_last_value() -> None:
    telemetry = make_telemetry()
    for observed in (99.1, 97.5):
        telemetry.observe_metric(name="podinfo", namespace=NS, metric="request-success-rate",
                                 value=observed)
    assert value(telemetry, "flagger_canary_metric_analysis", name="podinfo", namespace=NS,
                 metric="request-success-rate") == 97.5


def test_request_duration_is_exported_in_seconds() -> None:
    telemetry = make_telemetry()
    telemetry.observe_metric(name="podinfo", namespace=NS, metric="request-duration",
                             value=250.0)
    telemetry.observe_metric(name="podinfo", namespace=NS, metric="latency-ms", value=250.0)
    assert value(telemetry, "flagger_canary_metric_analysis", name="podinfo", namespace=NS,
                 metric="request-duration") == 0.25
    assert value(telemetry, "flagger_canary_metric_analysis", name="podinfo", namespace=NS,
                 metric="latency-ms") == 250


def test_no_data_keeps_the_last_value_and_is_counted() -> None:
    telemetry = make_telemetry()
    labels = {"name": "podinfo", "namespace": NS, "metric": "request-success-rate"}
    telemetry.observe_metric(**labels, value=99.0)
    telemetry.observe_metric(**labels, value=None)
    telemetry.observe_metric(**labels, value=None)
    assert value(telemetry, "flagger_canary_metric_analysis", **labels) == 99
    assert value(telemetry, "canary_operator_metric_no_data_total", **labels) == 2


def test_no_data_before_any_value_exports_no_analysis_series() -> None:
    telemetry = make_telemetry()
    telemetry.observe_metric(name="podinfo", namespace=NS, metric="error-rate", value=None)
    assert series(telemetry, "flagger_canary_metric_analysis") == []


# count_outcome

@pytest.mark.parametrize("strategy", ["canary", "blue-green", "ab-testing"])
@pytest.mark.parametrize("status", ["completed", "skipped"])
def test_outcomes_are_counted_by_strategy_and_status(strategy: str, status: str) -> None:
    telemetry = make_telemetry()
    labels = {"name": "podinfo", "namespace": NS, "deployment_strategy": strategy,
              "analysis_status": status}
    for succeeded in (True, True, False):
        telemetry.count_outcome(name="podinfo", namespace=NS, strategy=strategy,
                                status=status, succeeded=succeeded)
    assert value(telemetry, "flagger_canary_successes_total", **labels) == 2
    assert value(telemetry, "flagger_canary_failures_total", **labels) == 1
    assert len(series(telemetry, "flagger_canary_successes_total")) == 1


@pytest.mark.parametrize(("strategy", "status"), [
    ("mirroring", "completed"), ("canary", "done"), ("Canary", "completed"),
])
def test_an_unknown_strategy_or_status_is_refused(strategy: str, status: str) -> None:
    telemetry = make_telemetry()
    with pytest.raises(ValueError, match="unknown"):
        telemetry.count_outcome(name="podinfo", namespace=NS, strategy=strategy,
                                status=status, succeeded=True)
    assert series(telemetry, "flagger_canary_successes_total") == []


# set_canary_totals

def test_totals_per_namespace_and_a_namespace_gone_drops_to_zero() -> None:
    telemetry = make_telemetry()
    telemetry.set_canary_totals({"a": 2, "b": 1})
    assert value(telemetry, "flagger_canary_total", namespace="a") == 2
    assert value(telemetry, "flagger_canary_total", namespace="b") == 1
    telemetry.set_canary_totals({"a": 3})
    assert value(telemetry, "flagger_canary_total", namespace="a") == 3
    assert value(telemetry, "flagger_canary_total", namespace="b") == 0
    telemetry.set_canary_totals({"b": 1})
    assert value(telemetry, "flagger_canary_total", namespace="a") == 0
    assert value(telemetry, "flagger_canary_total", namespace="b") == 1


# forget

def test_forget_removes_every_series_of_that_canary_only() -> None:
    telemetry = make_telemetry()
    everything(telemetry, name="podinfo")
    everything(telemetry, name="backend")
    before = {s.name for s in samples(telemetry)}
    telemetry.forget(name="podinfo", namespace=NS, target="podinfo")
    left = samples(telemetry)
    assert not [s for s in left if s.labels.get("name") == "podinfo"]
    assert not [s for s in left if s.labels.get("workload", "").startswith("podinfo")]
    assert {s.name for s in left} == before  # backend's, the totals and the info stay
    assert len(series(telemetry, "flagger_canary_weight")) == 2


def test_forget_keeps_a_canary_of_the_same_name_elsewhere() -> None:
    telemetry = make_telemetry()
    tick(telemetry, namespace="one")
    tick(telemetry, namespace="two")
    telemetry.forget(name="podinfo", namespace="one", target="podinfo")
    assert [s["namespace"] for s in series(telemetry, "flagger_canary_status")] == ["two"]
    assert {s["namespace"] for s in series(telemetry, "flagger_canary_weight")} == {"two"}


def test_forgetting_an_unknown_canary_changes_nothing() -> None:
    telemetry = make_telemetry()
    everything(telemetry)
    before = telemetry.exposition()
    telemetry.forget(name="other", namespace=NS, target="other")
    assert telemetry.exposition() == before


# strategy_of

def spec(analysis: dict[str, Any] | None) -> CanarySpec:
    body: dict[str, Any] = {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "service": {"port": 9898},
    }
    if analysis is not None:
        body["analysis"] = {"interval": "1m", "threshold": 5, **analysis}
    return CanarySpec.model_validate(body)


MATCH = [{"headers": {"x-canary": {"exact": "insider"}}}]


@pytest.mark.parametrize(("analysis", "expected"), [
    (None, "canary"),
    ({"stepWeight": 10, "maxWeight": 50}, "canary"),
    ({"stepWeights": [1, 10, 50]}, "canary"),
    ({"iterations": 0, "stepWeight": 10}, "canary"),
    ({"match": MATCH, "stepWeight": 10}, "canary"),
    ({"iterations": 10}, "blue-green"),
    ({"iterations": 10, "mirror": True}, "blue-green"),
    ({"iterations": 10, "match": []}, "blue-green"),
    ({"iterations": 10, "match": MATCH}, "ab-testing"),
])
def test_strategy_follows_flaggers_rule(analysis: dict[str, Any] | None,
                                        expected: str) -> None:
    assert strategy_of(spec(analysis)) == expected


# serve_metrics

@pytest.fixture
async def endpoint() -> AsyncIterator[MetricsEndpoint]:
    telemetry = make_telemetry()
    tick(telemetry)
    served = await serve_metrics(telemetry, "127.0.0.1", 0)
    yield served
    await served.stop()


async def test_serves_metrics_and_healthz_on_the_given_host(
        endpoint: MetricsEndpoint) -> None:
    assert endpoint.port > 0
    assert endpoint.url == f"http://127.0.0.1:{endpoint.port}/metrics"
    async with httpx.AsyncClient() as client:
        metrics = await client.get(endpoint.url)
        health = await client.get(f"http://127.0.0.1:{endpoint.port}/healthz")
        missing = await client.get(f"http://127.0.0.1:{endpoint.port}/")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(metrics.text)}
    assert families["flagger_canary_status"].samples[0].labels == {"name": "podinfo",
                                                                    "namespace": NS}
    assert health.status_code == 200
    assert missing.status_code == 404


async def test_openmetrics_is_served_when_asked_for(endpoint: MetricsEndpoint) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.get(endpoint.url,
                                  headers={"Accept": "application/openmetrics-text"})
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    assert answer.text.endswith("# EOF\n")


async def test_binds_the_given_host_only(endpoint: MetricsEndpoint) -> None:
    # 127.0.0.2 is loopback too: a server bound to every address would answer there.
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.2:{endpoint.port}/metrics")


async def test_stop_closes_the_port() -> None:
    served = await serve_metrics(make_telemetry(), "127.0.0.1", 0)
    async with httpx.AsyncClient() as client:
        assert (await client.get(served.url)).status_code == 200
    await served.stop()
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(served.url)


async def test_a_port_in_use_is_an_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            await serve_metrics(make_telemetry(), "127.0.0.1", taken.getsockname()[1])
