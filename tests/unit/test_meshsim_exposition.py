"""/metrics holds exactly Istio's two request metrics, with Istio's labels and buckets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from canary_operator.lab.meshsim.exposition import Exposition, escape_label_value
from canary_operator.lab.meshsim.labels import ISTIO_DURATION_BUCKETS_MS, ISTIO_LABELS
from canary_operator.lab.meshsim.ledger import Ledger
from tests.istio_exporter import IstioExporter
from tests.unit.test_meshsim_ledger import podinfo, route


def exposition_text(reporters: tuple[str, ...] = ("destination", "source"),
                    canary_available: int = 1) -> str:
    ledger = Ledger(rps=20)
    route(ledger, podinfo({"lab.canary-operator.dev/error-rate": "0.2",
                           "lab.canary-operator.dev/latency-ms": "800"},
                          canary_available=canary_available), 90, 10)
    ledger.advance(10.0)
    return Exposition(reporters=reporters).render(ledger.series())


def samples(text: str) -> Iterator[Sample]:
    for family in text_string_to_metric_families(text):
        yield from family.samples


def test_istios_standard_labels_and_buckets() -> None:
    # The labels the built-in queries select on are among Istio's 25 standard ones.
    assert {"reporter", "destination_workload", "destination_workload_namespace",
            "response_code"} <= set(ISTIO_LABELS)
    assert len(set(ISTIO_LABELS)) == 25
    assert ISTIO_DURATION_BUCKETS_MS[:8] == (1, 5, 10, 25, 50, 100, 250, 500)
    assert ISTIO_DURATION_BUCKETS_MS[-1] == 3600000


def test_exactly_two_metric_families_with_istios_names_and_types() -> None:
    families = {f.name: f.type for f in text_string_to_metric_families(exposition_text())}
    assert families == {"istio_requests": "counter",
                        "istio_request_duration_milliseconds": "histogram"}
    names = {sample.name for sample in samples(exposition_text())}
    assert names == {"istio_requests_total", "istio_request_duration_milliseconds_bucket",
                     "istio_request_duration_milliseconds_sum",
                     "istio_request_duration_milliseconds_count"}


def test_every_sample_carries_exactly_istios_standard_labels() -> None:
    for sample in samples(exposition_text()):
        expected = set(ISTIO_LABELS) | ({"le"} if sample.name.endswith("_bucket") else set())
        assert set(sample.labels) == expected, sample.name


def test_the_label_names_match_what_the_test_exporter_emits() -> None:
    exporter = IstioExporter()
    exporter.set_behaviour("test", "podinfo")
    theirs = {(s.name, frozenset(s.labels))
              for s in samples(generate_latest(exporter.registry).decode())
              if s.name.startswith("istio_") and not s.name.endswith("_created")}
    ours = {(s.name, frozenset(s.labels)) for s in samples(exposition_text())}
    assert ours == theirs


def test_buckets_are_istios_defaults_written_as_envoy_writes_them() -> None:
    les = [s.labels["le"] for s in samples(exposition_text())
           if s.name.endswith("_bucket") and s.labels["destination_workload"] == "podinfo"
           and s.labels["reporter"] == "destination" and s.labels["response_code"] == "200"]
    assert les == [*(str(bound) for bound in ISTIO_DURATION_BUCKETS_MS), "+Inf"]


def test_the_destination_series_of_the_canary() -> None:
    by_code = {
        s.labels["response_code"]: s.value for s in samples(exposition_text())
        if s.name == "istio_requests_total" and s.labels["reporter"] == "destination"
        and s.labels["destination_workload"] == "podinfo"
    }
    assert by_code == {"200": 16, "500": 4}
    canary = next(s.labels for s in samples(exposition_text())
                  if s.name == "istio_requests_total"
                  and s.labels["destination_workload"] == "podinfo")
    assert canary["destination_workload_namespace"] == "test"
    assert canary["destination_service"] == "podinfo-canary.test.svc.cluster.local"
    assert canary["destination_service_name"] == "podinfo-canary"
    assert canary["destination_service_namespace"] == "test"
    assert canary["source_workload"] == "istio-ingressgateway"
    assert canary["request_protocol"] == "http"
    assert canary["response_flags"] == "-"


def test_each_request_is_reported_by_both_sidecars_or_only_the_ones_asked_for() -> None:
    def reporters(text: str) -> dict[str, float]:
        found: dict[str, float] = {}
        for s in samples(text):
            if s.name == "istio_requests_total":
                found[s.labels["reporter"]] = found.get(s.labels["reporter"], 0) + s.value
        return found

    assert reporters(exposition_text()) == {"destination": 200, "source": 200}
    assert reporters(exposition_text(("destination",))) == {"destination": 200}


def test_no_healthy_upstream_shows_only_at_the_source() -> None:
    text = exposition_text(canary_available=0)
    failed = [s for s in samples(text) if s.labels.get("response_code") == "503"]
    assert failed
    assert {(s.labels["reporter"], s.labels["response_flags"]) for s in failed} == {
        ("source", "UH")}
    assert not [s for s in samples(text) if s.labels.get("destination_workload") == "podinfo"]


def test_histogram_count_and_sum_follow_the_requests() -> None:
    found = {s.name: s.value for s in samples(exposition_text())
             if s.labels.get("destination_workload") == "podinfo"
             and s.labels["reporter"] == "destination" and s.labels["response_code"] == "200"
             and s.labels.get("le") in (None, "+Inf")}
    assert found == {"istio_requests_total": 16,
                     "istio_request_duration_milliseconds_bucket": 16,
                     "istio_request_duration_milliseconds_sum": 16 * 800,
                     "istio_request_duration_milliseconds_count": 16}


def test_label_values_are_escaped() -> None:
    assert escape_label_value('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_unknown_reporters_are_refused() -> None:
    with pytest.raises(ValueError, match="reporters must be some of"):
        Exposition(reporters=("gateway",))
