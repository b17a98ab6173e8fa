"""How PrometheusProvider reads Prometheus' answers: parsing only, at the transport seam.

The real round trip (a real Prometheus scraping Istio-like series) is in
tests/integration/test_prometheus_provider.py.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from canary_operator.metrics import PrometheusProvider, QueryResult
from canary_operator.metrics.prometheus import compact_query

URL = "http://prometheus.test:9090"
Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


def answer(result_type: str, result: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(
        status, json={"status": "success", "data": {"resultType": result_type, "result": result}}
    )


def sample(value: str, **labels: str) -> dict[str, Any]:
    return {"metric": labels, "value": [1700000000.123, value]}


def provider(handler: Handler, **options: Any) -> PrometheusProvider:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return PrometheusProvider(URL, client=client, **options)


async def run(handler: Handler, promql: str = "up", **options: Any) -> QueryResult:
    prom = provider(handler, **options)
    try:
        return await prom.query(promql)
    finally:
        await prom._client.aclose()


async def test_a_single_sample_vector_gives_its_value() -> None:
    result = await run(lambda _: answer("vector", [sample("99.5")]))
    assert result == QueryResult("up", 99.5)
    assert result.ok
    assert not result.no_data


async def test_a_vector_of_several_series_gives_the_last_sample_like_flagger() -> None:
    result = await run(lambda _: answer("vector", [sample("1", pod="a"), sample("2", pod="b"),
                                                    sample("3", pod="c")]))
    assert result.value == 3.0
    assert result.error is None


async def test_a_scalar_gives_its_value() -> None:
    result = await run(lambda _: answer("scalar", [1700000000, "42"]))
    assert result.value == 42.0


async def test_an_empty_vector_is_no_data() -> None:
    result = await run(lambda _: answer("vector", []))
    assert result == QueryResult("up", None, None)
    assert result.no_data


async def test_nan_such_as_zero_over_zero_is_no_data() -> None:
    result = await run(lambda _: answer("vector", [sample("NaN")]))
    assert result.value is None
    assert result.error is None


async def test_infinity_is_a_value() -> None:
    result = await run(lambda _: answer("vector", [sample("+Inf")]))
    assert result.value == float("inf")


async def test_a_matrix_is_an_error() -> None:
    result = await run(lambda _: answer("matrix", [{"metric": {}, "values": [[1, "1"], [2, "2"]]}]))
    assert result.value is None
    assert result.error is not None
    assert "range vector (matrix)" in result.error
    assert result.invalid


async def test_a_string_result_is_an_error() -> None:
    result = await run(lambda _: answer("string", [1, "hello"]))
    assert result.error is not None
    assert "resultType 'string'" in result.error
    assert result.invalid


async def test_a_native_histogram_sample_is_an_error() -> None:
    histogram = {"metric": {}, "histogram": [1, {"count": "3", "sum": "4", "buckets": []}]}
    result = await run(lambda _: answer("vector", [histogram]))
    assert result.error is not None
    assert "native histogram" in result.error
    assert result.invalid


async def test_http_400_reports_prometheus_error_type_and_message() -> None:
    body = {"status": "error", "errorType": "bad_data",
            "error": 'invalid parameter "query": 1:5: parse error: unexpected end of input'}
    result = await run(lambda _: httpx.Response(400, json=body), "sum(")
    assert result.value is None
    assert result.error == (
        f"Prometheus at {URL} answered HTTP 400: bad_data: "
        'invalid parameter "query": 1:5: parse error: unexpected end of input; '
        "fix the query (analysis.metrics[].query or the MetricTemplate's spec.query)"
    )
    assert result.invalid


@pytest.mark.parametrize(("status", "invalid", "fix"), [
    (401, True, "; check the credentials (the MetricTemplate's provider.secretRef) and what "
                "they may read"),
    (403, True, "; check the credentials (the MetricTemplate's provider.secretRef) and what "
                "they may read"),
    (404, True, "; check the address (metricsServer or the MetricTemplate's provider.address)"),
    (422, True, "; fix the query (analysis.metrics[].query or the MetricTemplate's "
                "spec.query)"),
    (408, False, ""), (429, False, ""), (500, False, ""), (502, False, ""), (503, False, ""),
])
async def test_an_http_error_is_invalid_only_when_asking_again_cannot_help(
        status: int, invalid: bool, fix: str) -> None:
    result = await run(lambda _: httpx.Response(status, text="no"))
    assert result.error == f"Prometheus at {URL} answered HTTP {status}: no{fix}"
    assert result.invalid is invalid


async def test_http_503_without_json_reports_the_body() -> None:
    result = await run(lambda _: httpx.Response(503, text="upstream connect error"))
    assert result.error == f"Prometheus at {URL} answered HTTP 503: upstream connect error"
    assert not result.invalid


async def test_a_success_status_with_an_error_payload_is_an_error() -> None:
    body = {"status": "error", "errorType": "timeout", "error": "query timed out"}
    result = await run(lambda _: httpx.Response(200, json=body))
    assert result.error == f"Prometheus at {URL} reported an error: timeout: query timed out"
    assert not result.invalid


async def test_a_success_status_with_a_bad_data_payload_is_invalid() -> None:
    body = {"status": "error", "errorType": "bad_data", "error": "parse error"}
    result = await run(lambda _: httpx.Response(200, json=body))
    assert result.error == f"Prometheus at {URL} reported an error: bad_data: parse error"
    assert result.invalid


async def test_a_body_that_is_not_json_is_an_error() -> None:
    result = await run(lambda _: httpx.Response(200, text="<html>login</html>"))
    assert result.error is not None
    assert "not Prometheus JSON: <html>login</html>; check the address" in result.error
    assert result.invalid


@pytest.mark.parametrize(
    "value", [["1"], [1, 2], [1, "not-a-number"], "5"], ids=["short", "number", "text", "bare"]
)
async def test_a_malformed_value_is_an_error(value: Any) -> None:
    result = await run(lambda _: answer("vector", [{"metric": {}, "value": value}]))
    assert result.error is not None
    assert "malformed value" in result.error
    assert result.invalid


async def test_a_transport_timeout_is_an_error_not_an_exception() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    result = await run(handler, timeout=2.5)
    assert result == QueryResult("up", None, f"Prometheus at {URL} did not answer within 2.5s")


async def test_every_query_has_a_deadline_even_when_the_server_trickles() -> None:
    async def slow(_: httpx.Request) -> httpx.Response:
        await asyncio.sleep(10)
        return answer("vector", [])

    result = await asyncio.wait_for(run(slow, timeout=0.2), timeout=5)
    assert result.error == f"Prometheus at {URL} did not answer within 0.2s"


async def test_a_refused_connection_is_an_error_not_an_exception() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    result = await run(handler)
    assert result.error == f"cannot connect to Prometheus at {URL}: [Errno 111] Connection refused"
    assert not result.invalid


async def test_a_query_is_a_get_on_api_v1_query_with_whitespace_collapsed() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer("vector", [sample("1")])

    promql = 'sum(\n\trate(x{a="b"}[1m])\n)  / 2\n'
    result = await run(handler, promql, headers={"Authorization": "Bearer t"})
    (request,) = seen
    assert request.method == "GET"
    assert request.url.path == "/api/v1/query"
    assert request.url.params["query"] == 'sum( rate(x{a="b"}[1m]) ) / 2'
    assert request.headers["Authorization"] == "Bearer t"
    assert result.query == 'sum( rate(x{a="b"}[1m]) ) / 2'


async def test_a_base_url_with_a_path_prefix_is_kept() -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return answer("vector", [])

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with client:
        await PrometheusProvider("http://gateway/prometheus/", client=client).query("up")
    assert seen[0].path == "/prometheus/api/v1/query"


async def test_credentials_in_the_url_stay_out_of_error_messages() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with client:
        prom = PrometheusProvider("http://user:secret@prom:9090", client=client)
        result = await prom.query("up")
    assert result.error == "cannot connect to Prometheus at http://prom:9090: refused"
    assert "secret" not in repr(prom)


@pytest.mark.parametrize(
    ("response", "online"),
    [
        (answer("vector", [sample("1")]), True),
        (answer("scalar", [1, "1"]), True),
        (answer("vector", [sample("0")]), False),
        (answer("vector", []), False),
        (httpx.Response(500, text="down"), False),
    ],
)
async def test_is_online_means_vector_1_answers_1(response: httpx.Response, online: bool) -> None:
    queries: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        queries.append(request.url.params["query"])
        return response

    prom = provider(handler)
    assert await prom.is_online() is online
    assert queries == ["vector(1)"]
    await prom._client.aclose()


async def test_aclose_leaves_a_client_passed_in_open_and_closes_its_own() -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: answer("vector", [])))
    borrowed = PrometheusProvider(URL, client=client)
    await borrowed.aclose()
    assert not client.is_closed
    await client.aclose()

    async with PrometheusProvider(URL) as owning:
        pass
    assert owning._client.is_closed


@pytest.mark.parametrize(
    ("promql", "sent"),
    [
        ("  up  ", "up"),
        ("sum(\n  rate(x[1m])\n)", "sum( rate(x[1m]) )"),
        ('x{a="two  spaces\\"  q"}', 'x{a="two  spaces\\"  q"}'),
        ("x{a='a  b'} or y{b=`c   d`}", "x{a='a  b'} or y{b=`c   d`}"),
        ("# the p99\nhistogram_quantile(0.99, x) # in ms\n", "histogram_quantile(0.99, x)"),
        ('x{a="#not-a-comment"}', 'x{a="#not-a-comment"}'),
        ('x{a="unterminated  ', 'x{a="unterminated  '),
    ],
)
def test_compact_query(promql: str, sent: str) -> None:
    assert compact_query(promql) == sent


async def test_queries_queue_for_a_connection_before_their_timeout_starts() -> None:
    in_flight = peak = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.1)
        in_flight -= 1
        return answer("vector", [{"metric": {}, "value": [0, "1"]}])

    client = httpx.AsyncClient(transport=httpx.MockTransport(slow))
    prometheus = PrometheusProvider("http://prometheus:9090", timeout=0.3, client=client,
                                    max_in_flight=2)
    # 10 queries, 2 at a time: 0.5 s in all, longer than one query's timeout.
    results = await asyncio.gather(*(prometheus.query("up") for _ in range(10)))
    assert [result.error for result in results] == [None] * 10
    assert peak == 2
    await client.aclose()
