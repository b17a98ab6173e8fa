"""The Prometheus provider: instant queries over `/api/v1/query`, with Flagger's semantics.

It uses httpx.AsyncClient rather than prometheus-api-client because that library is
synchronous (requests) and each query would block kopf's asyncio loop, and with it every
other Canary's handlers.

Semantics (Flagger's `RunQuery`): whitespace in the query is collapsed; a vector answers
with its last sample; an empty vector or NaN (0/0 without traffic) is "no data"
(`value=None`); a matrix, an HTTP status >= 400, a connection error or a timeout is an
`error`. Nothing here raises for a backend failure.

An error is `invalid` when asking again cannot help: Prometheus rejected the query (HTTP
400 `bad_data`, 422 `execution`), refused the credentials (401, 403), has no such API at
the address (404, a body that is not Prometheus JSON), or answered with something that is
not one number (a matrix, a native histogram). Flagger counts these as failed checks.
Everything else (no connection, a timeout, 408, 429, 5xx) is an outage.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from canary_operator.metrics.protocol import MetricProvider, QueryResult, SeriesResult

# 4xx answers that say "not now" rather than "never": asking again may succeed.
_TRANSIENT_CLIENT_ERRORS = frozenset({408, 425, 429})

DEFAULT_TIMEOUT_SECONDS = 5.0
ONLINE_QUERY = "vector(1)"
_SHOWN_BODY_CHARS = 300
_USERINFO = re.compile(r"//[^/@]*@")
# Queries sent to one Prometheus at once; the rest queue, untimed, in the operator.
DEFAULT_MAX_IN_FLIGHT = 16


class PrometheusProvider:
    """Runs instant PromQL queries against one Prometheus; implements `MetricProvider`."""

    def __init__(
        self,
        url: str,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        client: httpx.AsyncClient | None = None,
        headers: Mapping[str, str] | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        verify: bool = True,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._query_url = f"{self.url}/api/v1/query"
        self._shown_url = _USERINFO.sub("//", self.url)
        self._headers = dict(headers or {})
        # A client the caller passes stays the caller's to close.
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(
            follow_redirects=True, limits=httpx.Limits(max_connections=max_in_flight),
            verify=verify)
        # Queries wait their turn here, before their timeout starts: with hundreds of
        # Canaries checking in the same second, a query's time waiting for a connection
        # must not count as Prometheus being slow (and httpx's pool scan grows with the
        # queue in front of it).
        self._in_flight = asyncio.Semaphore(max_in_flight)

    async def query(self, promql: str) -> QueryResult:
        """Run `promql` as an instant query; `QueryResult.query` is the text as sent."""
        sent = compact_query(promql)
        async with self._in_flight:
            return await self._query(sent)

    async def query_series(self, promql: str) -> SeriesResult:
        """Run `promql` as an instant query and keep every series of the vector with its
        labels (one query answering for many workloads). Sent as a form POST: the query
        may be longer than a URL should be."""
        sent = compact_query(promql)
        async with self._in_flight:
            answer = await self._send(sent, post=True)
        if isinstance(answer, str):
            return SeriesResult(sent, (), answer)  # an outage
        return interpret_series_response(sent, answer.status_code, answer.content,
                                         self._shown_url)

    async def _query(self, sent: str) -> QueryResult:
        answer = await self._send(sent, post=False)
        if isinstance(answer, str):
            return QueryResult(sent, None, answer)  # an outage
        return interpret_response(sent, answer.status_code, answer.content, self._shown_url)

    async def _send(self, sent: str, *, post: bool) -> httpx.Response | str:
        """Prometheus's answer, or why there is none."""
        try:
            async with asyncio.timeout(self.timeout):
                if post:
                    return await self._client.post(
                        self._query_url, data={"query": sent}, headers=self._headers,
                        timeout=self.timeout)
                return await self._client.get(
                    self._query_url, params={"query": sent}, headers=self._headers,
                    timeout=self.timeout)
        except (TimeoutError, httpx.TimeoutException):
            return f"Prometheus at {self._shown_url} did not answer within {self.timeout:g}s"
        except httpx.ConnectError as error:
            return f"cannot connect to Prometheus at {self._shown_url}: {_describe(error)}"
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            return f"request to Prometheus at {self._shown_url} failed: {_describe(error)}"

    async def is_online(self) -> bool:
        """True when Prometheus answers `vector(1)` with 1 (Flagger's `IsOnline`)."""
        result = await self.query(ONLINE_QUERY)
        return result.error is None and result.value == 1.0

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> PrometheusProvider:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"PrometheusProvider({self._shown_url!r}, timeout={self.timeout:g})"


if TYPE_CHECKING:
    # mypy checks here that the provider satisfies the protocol the controller uses.
    _conforms: MetricProvider = PrometheusProvider("http://prometheus:9090")


def interpret_response(query: str, status_code: int, body: bytes, where: str) -> QueryResult:
    """Turn one `/api/v1/query` answer into a `QueryResult` (pure: no I/O)."""
    data = _data(status_code, body, where)
    if isinstance(data, Failure):
        return QueryResult(query, None, data.text, invalid=data.invalid)
    kind, result = data.get("resultType"), data.get("result")
    if kind == "vector" and isinstance(result, list):
        if not result:
            return QueryResult(query, None)
        # Several series (a query without an aggregation): Flagger takes the last one rather
        # than failing, and existing Canaries rely on that, so we do the same.
        return _sample_value(query, result[-1], where)
    if kind == "scalar":
        return _number(query, result, where)
    return QueryResult(query, None, _unsupported(kind, where), invalid=True)


def interpret_series_response(query: str, status_code: int, body: bytes,
                              where: str) -> SeriesResult:
    """Turn an `/api/v1/query` answer into every series of its vector with its labels and
    value (None for NaN: no data), pure like `interpret_response`."""
    data = _data(status_code, body, where)
    if isinstance(data, Failure):
        return SeriesResult(query, (), data.text, invalid=data.invalid)
    kind, result = data.get("resultType"), data.get("result")
    if kind != "vector" or not isinstance(result, list):
        return SeriesResult(query, (), _unsupported(kind, where), invalid=True)
    series = []
    for sample in result:
        value = _sample_value(query, sample, where)
        if value.error is not None:
            return SeriesResult(query, (), value.error, invalid=value.invalid)
        labels = sample.get("metric")
        series.append((dict(labels) if isinstance(labels, dict) else {}, value.value))
    return SeriesResult(query, tuple(series))


@dataclass(frozen=True)
class Failure:
    """What is wrong with an answer, and whether asking again can cure it."""

    text: str
    invalid: bool


def _data(status_code: int, body: bytes, where: str) -> dict[str, Any] | Failure:
    """The `data` of a successful answer, or what is wrong with the answer."""
    payload = _json_or_none(body)
    if status_code >= 400:
        text = f"Prometheus at {where} answered HTTP {status_code}: {_error_text(payload, body)}"
        return Failure(text + _fix(status_code), invalid=_invalid_status(status_code))
    if not isinstance(payload, dict):
        return Failure(f"Prometheus at {where} answered HTTP {status_code} with a body that is "
                       f"not Prometheus JSON: {_shown_body(body)}; check the address",
                       invalid=True)
    if payload.get("status") != "success":
        # Prometheus sends its errors with a 4xx or 5xx; a proxy may not: trust the type.
        kind = payload.get("errorType")
        return Failure(f"Prometheus at {where} reported an error: {_error_text(payload, body)}",
                       invalid=kind in ("bad_data", "execution"))
    data = payload.get("data")
    return data if isinstance(data, dict) else {}


def _invalid_status(status_code: int) -> bool:
    return 400 <= status_code < 500 and status_code not in _TRANSIENT_CLIENT_ERRORS


def _fix(status_code: int) -> str:
    """What to change, for the answers whose cause is the Canary's configuration."""
    if status_code in (400, 422):
        return "; fix the query (analysis.metrics[].query or the MetricTemplate's spec.query)"
    if status_code in (401, 403):
        return ("; check the credentials (the MetricTemplate's provider.secretRef) and "
                "what they may read")
    if status_code == 404:
        return "; check the address (metricsServer or the MetricTemplate's provider.address)"
    return ""


def _unsupported(kind: Any, where: str) -> str:
    if kind == "matrix":
        return ("the query returned a range vector (matrix); a metric query must return one "
                "instant value, e.g. sum(rate(x[1m])) rather than x[1m]")
    return (f"Prometheus at {where} answered with an unsupported result (resultType "
            f"{kind!r}); a metric query must return an instant vector or a scalar")


def compact_query(promql: str) -> str:
    """`promql` on one line: whitespace runs collapsed to one space, `#` comments removed.

    Flagger collapses every whitespace run; we leave string literals alone (a label value
    may contain spaces) and drop comments, which would otherwise swallow the rest of the
    query once the newlines are gone.
    """
    pieces: list[str] = []
    space_pending = False
    position, length = 0, len(promql)
    while position < length:
        char = promql[position]
        if char.isspace():
            space_pending = True
            position += 1
            continue
        if char == "#":
            newline = promql.find("\n", position)
            position = length if newline < 0 else newline
            space_pending = True
            continue
        if space_pending and pieces:
            pieces.append(" ")
        space_pending = False
        end = _string_end(promql, position) if char in "\"'`" else position + 1
        pieces.append(promql[position:end])
        position = end
    return "".join(pieces)


def _string_end(promql: str, start: int) -> int:
    """The index just past the string literal opening at `start` (or the end of the text)."""
    quote = promql[start]
    position = start + 1
    while position < len(promql):
        char = promql[position]
        if char == "\\" and quote != "`":
            position += 2
            continue
        if char == quote:
            return position + 1
        position += 1
    return len(promql)


def _sample_value(query: str, sample: Any, where: str) -> QueryResult:
    if isinstance(sample, dict) and "value" in sample:
        return _number(query, sample["value"], where)
    if isinstance(sample, dict) and "histogram" in sample:
        return QueryResult(
            query, None, "the query returned a native histogram, not a number; wrap it in "
            "histogram_quantile() or histogram_sum()", invalid=True,
        )
    return QueryResult(
        query, None, f"Prometheus at {where} answered with a malformed sample: {sample!r:.200}",
        invalid=True,
    )


def _number(query: str, pair: Any, where: str) -> QueryResult:
    """The float in a `[timestamp, "value"]` pair; NaN (for example 0/0) is no data."""
    if isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], str):
        try:
            value = float(pair[1])
        except ValueError:
            pass
        else:
            return QueryResult(query, None if math.isnan(value) else value)
    return QueryResult(
        query, None, f"Prometheus at {where} answered with a malformed value: {pair!r:.200}",
        invalid=True,
    )


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _error_text(payload: Any, body: bytes) -> str:
    if isinstance(payload, dict) and payload.get("error"):
        kind = payload.get("errorType")
        return f"{kind}: {payload['error']}" if kind else str(payload["error"])
    return _shown_body(body)


def _shown_body(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return "(empty body)"
    return text if len(text) <= _SHOWN_BODY_CHARS else text[:_SHOWN_BODY_CHARS] + "..."


def _describe(error: Exception) -> str:
    return str(error) or type(error).__name__
