"""Builtin queries of Canaries checking together become one query: how the batch query is
built, how its answer is split per workload, and how queries are gathered into batches
(at the HTTP transport seam). The values against a real Prometheus are compared in
tests/integration/test_prometheus_provider.py."""

import asyncio
import re
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from canary_operator.metrics import PrometheusProvider, QueryResult, builtin_query
from canary_operator.metrics.batching import BatchAnswer, BuiltinBatcher, by_workload, pick
from canary_operator.metrics.builtin import batch_builtin_query, batchable
from canary_operator.metrics.prometheus import compact_query, interpret_series_response
from canary_operator.metrics.protocol import SeriesResult

URL = "http://prometheus.test:9090"


def test_only_builtins_of_plain_dns_names_are_batched() -> None:
    assert batchable("request-success-rate", "test", "podinfo")
    assert batchable("request-duration", "team-a", "api-v2")
    assert not batchable("error-rate", "test", "podinfo")
    # A dot is a regex wildcard: "app.v1" would also match "appXv1".
    assert not batchable("request-success-rate", "test", "app.v1")


def test_the_batch_query_aggregates_per_workload_over_the_asked_names() -> None:
    promql = batch_builtin_query("request-success-rate",
                                 [("b", "podinfo"), ("a", "api"), ("a", "podinfo")], "1m")
    assert 'destination_workload_namespace=~"a|b"' in promql
    assert 'destination_workload=~"api|podinfo"' in promql
    assert promql.count("sum by (destination_workload_namespace,destination_workload)") == 2
    assert 'response_code!~"5.*"}[1m]' in promql
    duration = batch_builtin_query("request-duration", [("a", "api")], "30s")
    assert duration.startswith("histogram_quantile(0.99, sum by "
                               "(destination_workload_namespace,destination_workload,le)")
    assert duration.endswith("[30s])))")


def series_answer(*series: tuple[str, str, str]) -> bytes:
    result = [{"metric": {"destination_workload_namespace": ns, "destination_workload": wl},
               "value": [1700000000.0, value]} for ns, wl, value in series]
    return httpx.Response(200, json={"status": "success", "data": {
        "resultType": "vector", "result": result}}).content


def test_the_answer_is_split_per_workload_nan_and_missing_being_no_data() -> None:
    parsed = interpret_series_response(
        "q", 200, series_answer(("a", "api", "99.5"), ("b", "api", "NaN")), URL)
    answer = by_workload(parsed)
    assert pick(answer, "api in a", ("a", "api")) == QueryResult("api in a", 99.5)
    assert pick(answer, "api in b", ("b", "api")) == QueryResult("api in b", None)
    assert pick(answer, "idle", ("a", "idle")) == QueryResult("idle", None)


def test_an_error_answer_is_every_workloads_error() -> None:
    parsed = interpret_series_response("q", 503, b"overloaded", URL)
    assert parsed.error == f"Prometheus at {URL} answered HTTP 503: overloaded"
    answer = by_workload(parsed)
    assert pick(answer, "mine", ("a", "api")) == QueryResult("mine", None, parsed.error)
    assert by_workload(SeriesResult("q", (), "down")) == BatchAnswer("down", {})


def test_a_matrix_answer_is_an_error() -> None:
    body = httpx.Response(200, json={"status": "success", "data": {
        "resultType": "matrix", "result": []}}).content
    assert "range vector" in (interpret_series_response("q", 200, body, URL).error or "")


class FakePrometheusTransport:
    """Answers each batch query with a value per workload named in its regex, and
    records the queries it was sent."""

    def __init__(self, status: int = 200) -> None:
        self.queries: list[str] = []
        self.status = status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        query = parse_qs(request.content.decode())["query"][0]
        self.queries.append(query)
        if self.status != 200:
            return httpx.Response(self.status, text="overloaded")
        namespaces = re.search(r'namespace=~"([^"]*)"', query)
        targets = re.search(r'destination_workload=~"([^"]*)"', query)
        assert namespaces and targets
        series = [(ns, wl, str(len(wl))) for ns in namespaces.group(1).split("|")
                  for wl in targets.group(1).split("|") if wl != "idle"]
        return httpx.Response(200, content=series_answer(*series))


async def gather_queries(transport: FakePrometheusTransport,
                         asks: list[tuple[str, str, str]], **options: Any) -> list[QueryResult]:
    client = httpx.AsyncClient(transport=httpx.MockTransport(transport))
    batcher = BuiltinBatcher(PrometheusProvider(URL, client=client), **options)
    try:
        return await asyncio.gather(*(batcher.query(metric, ns, wl, "1m")
                                      for metric, ns, wl in asks))
    finally:
        await batcher.aclose()
        await client.aclose()


async def test_queries_arriving_together_share_one_query_per_metric() -> None:
    transport = FakePrometheusTransport()
    asks = [(metric, "test", name) for name in ("api", "podinfo", "idle")
            for metric in ("request-success-rate", "request-duration")]
    results = await gather_queries(transport, asks)
    assert len(transport.queries) == 2
    by_ask = dict(zip(asks, results, strict=True))
    ask = ("request-success-rate", "test", "podinfo")
    assert by_ask[ask] == QueryResult(
        compact_query(builtin_query("request-success-rate", "test", "podinfo", "1m")), 7.0)
    assert by_ask[("request-duration", "test", "api")].value == 3.0
    assert by_ask[("request-duration", "test", "idle")].no_data


async def test_a_failed_batch_is_each_canarys_error() -> None:
    results = await gather_queries(FakePrometheusTransport(status=503),
                                   [("request-success-rate", "test", "a"),
                                    ("request-success-rate", "test", "b")])
    assert [r.error for r in results] == [f"Prometheus at {URL} answered HTTP 503: "
                                          "overloaded"] * 2


async def test_queries_after_an_answer_start_a_new_batch() -> None:
    transport = FakePrometheusTransport()
    client = httpx.AsyncClient(transport=httpx.MockTransport(transport))
    batcher = BuiltinBatcher(PrometheusProvider(URL, client=client))
    try:
        first = await batcher.query("request-success-rate", "test", "a", "1m")
        second = await batcher.query("request-success-rate", "test", "bb", "1m")
    finally:
        await batcher.aclose()
        await client.aclose()
    assert (first.value, second.value) == (1.0, 2.0)
    assert len(transport.queries) == 2


async def test_a_check_reports_the_query_its_caller_rendered() -> None:
    transport = FakePrometheusTransport()
    client = httpx.AsyncClient(transport=httpx.MockTransport(transport))
    batcher = BuiltinBatcher(PrometheusProvider(URL, client=client))
    own = builtin_query("request-success-rate", "test", "a", "1m")
    try:
        given = await batcher.query("request-success-rate", "test", "a", "1m", own)
        rendered = await batcher.query("request-success-rate", "test", "a", "1m")
    finally:
        await batcher.aclose()
        await client.aclose()
    assert given.query == rendered.query == compact_query(own)
    assert "\n" not in given.query


async def test_a_cancelled_tick_does_not_cancel_the_others_answer() -> None:
    transport = FakePrometheusTransport()
    client = httpx.AsyncClient(transport=httpx.MockTransport(transport))
    batcher = BuiltinBatcher(PrometheusProvider(URL, client=client), window_seconds=0.05)
    try:
        leaving = asyncio.ensure_future(batcher.query("request-success-rate", "t", "a", "1m"))
        staying = asyncio.ensure_future(batcher.query("request-success-rate", "t", "bb", "1m"))
        await asyncio.sleep(0)
        leaving.cancel()
        assert (await staying).value == 2.0
        with pytest.raises(asyncio.CancelledError):
            await leaving
    finally:
        await batcher.aclose()
        await client.aclose()


async def test_queries_arriving_while_one_is_in_flight_go_out_together_after_it() -> None:
    transport = FakePrometheusTransport()
    arrived, release = asyncio.Event(), asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        arrived.set()
        await release.wait()
        return transport(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(slow))
    batcher = BuiltinBatcher(PrometheusProvider(URL, client=client))
    try:
        first = asyncio.ensure_future(batcher.query("request-success-rate", "t", "a", "1m"))
        await arrived.wait()  # the first query is at Prometheus, alone
        later = [asyncio.ensure_future(batcher.query("request-success-rate", "t", name, "1m"))
                 for name in ("bb", "ccc")]
        await asyncio.sleep(0)  # one loop turn: each joins the open batch before awaiting
        release.set()
        results = await asyncio.gather(first, *later)
    finally:
        await batcher.aclose()
        await client.aclose()
    assert [r.value for r in results] == [1.0, 2.0, 3.0]
    assert len(transport.queries) == 2
    assert 'destination_workload=~"a"' in transport.queries[0]
    assert 'destination_workload=~"bb|ccc"' in transport.queries[1]
