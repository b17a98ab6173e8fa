"""`kubectl canary lint`: offline validation, then each query once (a mock Prometheus)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from canary_operator.cli.kubectl import main
from canary_operator.cli.lint import LintReport, lint_queries, lint_text, series_shape

CANARY = """
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 80, portDiscovery: true}
  analysis:
    interval: 1m
    threshold: 5
    stepWeight: 10
    metrics:
    - {name: request-success-rate, thresholdRange: {min: 99}, interval: 1m}
    - {name: request-duration, thresholdRange: {max: 500}, interval: 1m}
    - name: errors
      templateRef: {name: error-count}
      thresholdRange: {max: 5}
      interval: 2m
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unrelated}
"""

TEMPLATE = """
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: error-count, namespace: test}
spec:
  provider: {type: prometheus, address: http://prometheus:9090}
  query: sum(rate(errors_total{app="{{ target }}"}[{{ interval }}]))
"""


def test_a_valid_canary_passes_and_fields_not_acted_on_are_named() -> None:
    report = lint_text(CANARY + TEMPLATE)
    assert report.exit_code == 0
    assert report.lines[0] == "✔ Canary test/podinfo: valid"
    assert "  warning: spec.service.portDiscovery is stored but not acted on yet" in report.lines
    assert "✔ MetricTemplate test/error-count: valid" in report.lines


def test_an_invalid_canary_names_the_field_the_value_and_the_range() -> None:
    bad = CANARY.replace("stepWeight: 10", "stepWeight: 0").replace("interval: 1m\n    thr",
                                                                    "interval: soon\n    thr")
    report = lint_text(bad)
    assert report.exit_code == 1
    [line] = [line for line in report.lines if line.startswith("✘")]
    assert line.startswith("✘ Canary test/podinfo: ")
    assert "spec.analysis.stepWeight must be between 1 and 100 (got 0)" in line
    assert "spec.analysis.interval must be a duration" in line and "'soon'" in line


def test_a_missing_field_and_a_bad_template_count_as_invalid() -> None:
    no_target = CANARY.replace(
        "  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}\n", "")
    bad_template = TEMPLATE.replace("type: prometheus", "type: carrier-pigeon")
    report = lint_text(no_target + bad_template)
    assert report.invalid == 2
    assert any("spec.targetRef is required but missing" in line for line in report.lines)
    assert any(line.startswith("✘ MetricTemplate test/error-count: spec.provider.type must be "
                               "one of") for line in report.lines)


def test_the_default_namespace_fills_in_a_missing_one() -> None:
    report = lint_text(CANARY.replace(", namespace: test", ""), default_namespace="dev")
    assert report.canaries[0].key == "dev/podinfo"


def test_not_yaml_and_nothing_to_lint_are_reported() -> None:
    assert lint_text("a: [", source="x.yaml").exit_code == 1
    report = lint_text("kind: ConfigMap\n", source="x.yaml")
    assert report.lines == ["x.yaml: no Canary or MetricTemplate found"]


# --- queries against a mock Prometheus ------------------------------------------------------


def vector(*values: str) -> bytes:
    result = [{"metric": {"pod": f"p{i}"}, "value": [1.0, v]} for i, v in enumerate(values)]
    return json.dumps({"status": "success",
                       "data": {"resultType": "vector", "result": result}}).encode()


def prometheus(answer: Callable[[str], bytes]) -> httpx.Client:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=answer(request.url.params["query"]))
    return httpx.Client(transport=httpx.MockTransport(handle))


def run(report: LintReport, answer: Callable[[str], bytes]) -> list[str]:
    with prometheus(answer) as http:
        return lint_queries(report, "http://prom:9090", http)


def test_values_for_canary_and_primary_and_whether_they_would_pass() -> None:
    def answer(query: str) -> bytes:
        primary = 'podinfo-primary"' in query
        if "istio_requests_total" in query:
            return vector("100" if primary else "95.5")
        if "istio_request_duration" in query:
            return vector("40" if primary else "120")
        return vector("1", "2", "7")  # errors: three series
    lines = run(lint_text(CANARY + TEMPLATE), answer)
    text = "\n".join(lines)
    assert "  request-success-rate (threshold >= 99%, window 1m)" in lines
    canary_line = next(line for line in lines if line.strip().startswith("canary   podinfo "))
    assert "95.50%" in canary_line and "✘ would fail (< 99%)" in canary_line
    primary_line = next(line for line in lines if "podinfo-primary" in line)
    assert "100.00%" in primary_line and "✔ would pass" in primary_line
    assert "120ms" in text and "40ms" in text
    assert "3 series: Flagger silently takes the last one" in text
    assert "7.00" in text and "✘ would fail (> 5)" in text
    assert 'errors_total{app="podinfo-primary"}[2m]' not in text  # only the canary's query
    assert 'query: sum(rate(errors_total{app="podinfo"}[2m]))' in text


def test_empty_and_nan_results_are_flagged_as_no_data() -> None:
    def answer(query: str) -> bytes:
        return vector("NaN") if "istio_requests_total" in query else vector()
    text = "\n".join(run(lint_text(CANARY + TEMPLATE), answer))
    assert "NaN (0/0 without traffic?): counts as NoData" in text
    assert "empty result (no series): counts as NoData" in text
    assert "✘ NoData: would fail" in text


def test_an_unresolved_template_is_reported_not_run() -> None:
    lines = run(lint_text(CANARY), lambda query: vector("1"))
    assert ("  ? errors: MetricTemplate test/error-count unresolved: not in the file, and no "
            "cluster to ask") in lines


def test_prometheus_errors_are_shown_as_not_counted() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"status": "error", "errorType": "bad_data",
                                         "error": "parse error"})
    with httpx.Client(transport=httpx.MockTransport(refuse)) as http:
        text = "\n".join(lint_queries(lint_text(CANARY + TEMPLATE), "http://prom", http))
    assert "? error: not counted" in text and "bad_data: parse error" in text


def test_series_shape() -> None:
    assert series_shape(vector("1", "NaN")) == series_shape(vector("NaN", "2"))
    assert series_shape(vector()).series == 0
    assert series_shape(b"not json").series == 0


def test_the_command_exits_1_on_an_invalid_canary(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "canary.yaml"
    path.write_text(CANARY.replace("port: 80", "port: 0"))
    assert main(["lint", str(path)]) == 1
    assert "spec.service.port must be between 1 and 65535 (got 0)" in capsys.readouterr().out
    path.write_text(CANARY + TEMPLATE)
    assert main(["lint", str(path)]) == 0
    assert "queries not run" in capsys.readouterr().out
