"""deploy/grafana/canary-operator.json: it parses, has Flagger's variables, and every query
reads a metric the operator exports or one of Istio's two standard metrics."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from canary_operator.telemetry import Telemetry
from tests.paths import REPO

DASHBOARD = REPO / "deploy" / "grafana" / "canary-operator.json"
ISTIO = {"istio_requests_total", "istio_request_duration_milliseconds_bucket",
         "istio_request_duration_milliseconds_sum", "istio_request_duration_milliseconds_count"}
DATASOURCE = "${DS_PROMETHEUS}"
GRAFANA_BUILTINS = {"__rate_interval", "__range", "__interval", "__range_s"}

# PromQL words that are not metric names: keywords and the aggregation modifiers.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
            "or", "unless", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads: every identifier left once string literals,
    label matchers, range selectors and grouping clauses are removed, that is not a
    function call or a keyword."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "{}", text)
    text = re.sub(r"\[[^\]]*\]", "[]", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.$])[A-Za-z_:][\w:]*", text):
        if text[match.end():].lstrip().startswith("(") or match.group().lower() in KEYWORDS:
            continue
        names.add(match.group())
    return names


def variable_query_names(query: str) -> set[str]:
    """Metric names in a variable query: `label_values(<selector>, <label>)` reads the
    selector's metric; anything else is PromQL."""
    found = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", query)
    return metric_names(found.group(1) if found else query)


def exported_names(telemetry: Telemetry) -> set[str]:
    """Every sample name the registry can expose, by each family's type."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
                "summary": ("_sum", "_count")}
    return {family.name + suffix
            for family in telemetry.registry.collect()
            for suffix in suffixes.get(family.type, ("",))}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row keeps its panels inside


def expressions(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in panels(dashboard)
            for target in panel.get("targets", [])]


def variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in dashboard["templating"]["list"]}


ALLOWED = exported_names(Telemetry(version="test", mesh_provider="istio")) | ISTIO


# The extractor itself, so a query it misreads fails here first.

@pytest.mark.parametrize(("expr", "names"), [
    ('flagger_canary_status{namespace="$namespace", name="$canary"}',
     {"flagger_canary_status"}),
    ("histogram_quantile(0.99, sum by (le) (rate(x_bucket{a=\"b\"}[$__rate_interval])))",
     {"x_bucket"}),
    ('sum(rate(a_total{code!~"5.."}[1m])) / sum without (pod) (rate(b_total[1m])) > 1e3',
     {"a_total", "b_total"}),
    ("max by (version, mesh_provider) (flagger_info) or on(job) up offset 5m", {"flagger_info",
                                                                                "up"}),
    ("round(sum(rate(m[1m])), 0.001)", {"m"}),
])
def test_metric_names_are_read_from_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_label_values_reads_its_selector() -> None:
    assert variable_query_names('label_values(flagger_canary_weight{ns="$n"}, workload)') == {
        "flagger_canary_weight"}


def test_the_allowed_names_come_from_the_registry() -> None:
    assert {"flagger_canary_status", "flagger_canary_duration_seconds_bucket",
            "flagger_canary_successes_total", "canary_operator_decisions_total"} <= ALLOWED
    assert "flagger_canary_successes" not in ALLOWED


# The dashboard.

def test_it_has_flaggers_variables_and_a_prometheus_datasource_variable(
        dashboard: dict[str, Any]) -> None:
    found = variables(dashboard)
    assert {"namespace", "primary", "canary", "DS_PROMETHEUS"} <= found.keys()
    assert found["DS_PROMETHEUS"]["type"] == "datasource"
    assert found["DS_PROMETHEUS"]["query"] == "prometheus"
    for name in ("namespace", "primary", "canary"):
        assert found[name]["type"] == "query"
        assert found[name]["datasource"]["uid"] == DATASOURCE


def test_every_panel_has_a_query_on_the_prometheus_datasource(
        dashboard: dict[str, Any]) -> None:
    shown = [panel for panel in panels(dashboard) if panel["type"] != "row"]
    assert len(shown) >= 10
    for panel in shown:
        assert panel["datasource"]["uid"] == DATASOURCE, panel["title"]
        assert panel.get("targets"), f"panel {panel['title']!r} has no target"
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"]["uid"] == DATASOURCE, panel["title"]


def test_every_query_reads_only_exported_or_istio_metrics(dashboard: dict[str, Any]) -> None:
    for expr in expressions(dashboard):
        names = metric_names(expr)
        assert names, expr
        assert names <= ALLOWED, (expr, names - ALLOWED)
    for variable in variables(dashboard).values():
        if variable["type"] == "query":
            names = variable_query_names(variable["query"])
            assert names, variable["name"]
            assert names <= ALLOWED, (variable["name"], names - ALLOWED)


def test_every_exported_metric_has_a_panel(dashboard: dict[str, Any]) -> None:
    used = set().union(*(metric_names(expr) for expr in expressions(dashboard)))
    families = {family.name for family in
                Telemetry(version="test", mesh_provider="istio").registry.collect()}
    unused = {family for family in families
              if not any(name.startswith(family) for name in used)}
    assert unused == set()


def test_istio_queries_use_the_destination_reporter_and_both_workloads(
        dashboard: dict[str, Any]) -> None:
    istio = [expr for expr in expressions(dashboard) if metric_names(expr) & ISTIO]
    assert all('reporter="destination"' in expr for expr in istio)
    for workload in ("$primary", "$canary"):
        mine = [expr for expr in istio if f'destination_workload="{workload}"' in expr]
        assert any("istio_requests_total" in expr and 'response_code!~"5.."' in expr
                   for expr in mine), workload
        for quantile in ("0.50", "0.90", "0.99"):
            assert any(f"histogram_quantile({quantile}," in expr and
                       "istio_request_duration_milliseconds_bucket" in expr
                       for expr in mine), (workload, quantile)


def test_queries_use_only_defined_variables(dashboard: dict[str, Any]) -> None:
    defined = variables(dashboard).keys() | GRAFANA_BUILTINS
    queries = expressions(dashboard) + [
        v["query"] for v in variables(dashboard).values() if v["type"] == "query"]
    for query in queries:
        used = set(re.findall(r"\$\{?(\w+)\}?", query))
        assert used <= defined, (query, used - defined)


def test_panels_have_unique_ids_and_do_not_overlap(dashboard: dict[str, Any]) -> None:
    laid_out = list(panels(dashboard))
    ids = [panel["id"] for panel in laid_out]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in laid_out:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        mine = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & mine, panel["title"]
        cells |= mine
