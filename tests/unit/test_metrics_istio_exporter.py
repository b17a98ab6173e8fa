"""The test exporter models traffic exactly, so integration tests can assert on it."""

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from tests.istio_exporter import ISTIO_DURATION_BUCKETS_MS, ISTIO_LABELS, IstioExporter


def samples(registry: CollectorRegistry, name: str, **labels: str) -> dict[str, float]:
    """`{sample name + le: value}` for the series matching `labels`."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            if sample.name.startswith(name) and all(
                sample.labels.get(key) == value for key, value in labels.items()
            ):
                key = sample.name + (f"{{le={sample.labels['le']}}}" if "le" in sample.labels
                                     else "")
                found[key] = found.get(key, 0.0) + sample.value
    return found


def test_error_rate_0_2_answers_exactly_2_of_every_10_requests_with_500() -> None:
    exporter = IstioExporter()
    exporter.set_behaviour("test", "podinfo", rps=10, error_rate=0.2)
    for _ in range(7):
        exporter.advance(1.0)
    assert exporter.emitted("test", "podinfo").requests == 70
    assert exporter.emitted("test", "podinfo").errors == 14
    codes = {
        code: samples(exporter.registry, "istio_requests_total", reporter="destination",
                      destination_workload="podinfo", response_code=code)
        for code in ("200", "500")
    }
    assert codes["200"]["istio_requests_total"] == 56
    assert codes["500"]["istio_requests_total"] == 14


def test_fractions_of_a_request_carry_over_between_ticks() -> None:
    exporter = IstioExporter()
    exporter.set_behaviour("test", "podinfo", rps=20, error_rate=0.5)
    for _ in range(40):
        exporter.advance(0.025)  # half a request each time
    assert exporter.emitted("test", "podinfo").requests == 20
    assert exporter.emitted("test", "podinfo").errors == 10


def test_every_request_is_observed_at_the_modelled_latency() -> None:
    exporter = IstioExporter()
    exporter.set_behaviour("test", "podinfo", rps=5, latency_ms=800)
    exporter.advance(2.0)
    buckets = samples(exporter.registry, "istio_request_duration_milliseconds",
                      reporter="destination", response_code="200")
    assert buckets["istio_request_duration_milliseconds_bucket{le=500.0}"] == 0
    assert buckets["istio_request_duration_milliseconds_bucket{le=1000.0}"] == 10
    assert buckets["istio_request_duration_milliseconds_bucket{le=+Inf}"] == 10
    assert buckets["istio_request_duration_milliseconds_sum"] == 8000
    les = {key for key in buckets if "_bucket" in key}
    assert len(les) == len(ISTIO_DURATION_BUCKETS_MS) + 1


def test_series_carry_istios_standard_labels_for_both_reporters() -> None:
    exporter = IstioExporter()
    exporter.set_behaviour("test", "podinfo-primary", rps=1, service="podinfo-primary",
                           app="podinfo-primary")
    exporter.advance(1.0)
    families = text_string_to_metric_families(generate_latest(exporter.registry).decode())
    requests = next(family for family in families if family.name == "istio_requests")
    reporters = set()
    for sample in requests.samples:
        if sample.name != "istio_requests_total":
            continue
        assert set(sample.labels) == set(ISTIO_LABELS)
        assert sample.labels["destination_service"] == "podinfo-primary.test.svc.cluster.local"
        assert sample.labels["destination_workload_namespace"] == "test"
        reporters.add(sample.labels["reporter"])
    assert reporters == {"destination", "source"}


def test_the_error_series_exists_at_zero_before_the_first_error() -> None:
    exporter = IstioExporter()
    exporter.set_behaviour("test", "podinfo", rps=0, error_rate=0.2)
    errors = samples(exporter.registry, "istio_requests_total", reporter="destination",
                     response_code="500")
    assert errors == {"istio_requests_total": 0.0}


def test_changing_the_behaviour_keeps_the_counters() -> None:
    exporter = IstioExporter()
    exporter.set_behaviour("test", "podinfo", rps=10)
    exporter.advance(1.0)
    exporter.set_behaviour("test", "podinfo", rps=0)
    exporter.advance(5.0)
    assert exporter.emitted("test", "podinfo").requests == 10


@pytest.mark.parametrize(
    "bad",
    [{"rps": -1}, {"error_rate": 1.5}, {"latency_ms": -5}, {"error_code": 404}],
)
def test_impossible_behaviours_are_rejected(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        IstioExporter().set_behaviour("test", "podinfo", **bad)  # type: ignore[arg-type]


def test_an_unstarted_exporter_has_no_address() -> None:
    with pytest.raises(RuntimeError, match=r"IstioExporter.start\(\)"):
        _ = IstioExporter().address
