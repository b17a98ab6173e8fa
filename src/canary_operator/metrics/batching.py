"""Builtin metric queries of many Canaries that arrive together, answered by one query.

Hundreds of Canaries bumped together check their metrics in the same second. Each
builtin query differs only in its namespace and target, so the queries of one metric and
window become one query aggregated per workload (`batch_builtin_query`), and each Canary
takes its own workload's series. A query goes out at once when none of its kind is in
flight; those that arrive meanwhile wait for it to finish and then go out together. So a
lone Canary waits for nothing, and under load Prometheus answers one query per round trip
instead of one per Canary. The value is the one the Canary's own query gives; the result
keeps that query's text, which is what a user can paste into Prometheus to check it. A
Prometheus error is every waiting Canary's error.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from canary_operator.metrics.builtin import batch_builtin_query, builtin_query
from canary_operator.metrics.prometheus import PrometheusProvider, compact_query
from canary_operator.metrics.protocol import QueryResult, SeriesResult

# Workloads per query at most, which keeps the query text (a regex alternation) bounded.
MAX_BATCH = 500

Workload = tuple[str, str]  # (namespace, target)


@dataclass(frozen=True)
class BatchAnswer:
    """A batch query's answer by workload, or the error every workload in it gets."""

    error: str | None
    values: dict[Workload, float | None]
    invalid: bool = False  # the error is not an outage (QueryResult.invalid)


@dataclass
class _Batch:
    workloads: set[Workload] = field(default_factory=set)
    answer: asyncio.Future[BatchAnswer] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


class BuiltinBatcher:
    """Collects builtin metric queries for one Prometheus and sends them in batches."""

    def __init__(self, provider: PrometheusProvider, window_seconds: float = 0.0) -> None:
        self.provider = provider
        # Extra time a batch stays open before it may go out (tests widen it).
        self.window_seconds = window_seconds
        self._open: dict[tuple[str, str], _Batch] = {}
        self._in_flight: dict[tuple[str, str], asyncio.Lock] = {}
        self._senders: set[asyncio.Task[None]] = set()

    async def query(self, metric_name: str, namespace: str, target: str,
                    interval: str, promql: str | None = None) -> QueryResult:
        """Builtin metric `metric_name` of `namespace`/`target` over `interval`, as
        `provider.query(builtin_query(...))` would answer it (the caller checks
        `batchable` first). `promql` is that query when the caller has rendered it."""
        key = (metric_name, interval)
        batch = self._open.get(key)
        if batch is None or len(batch.workloads) >= MAX_BATCH:
            batch = self._open[key] = _Batch()
            sender = asyncio.get_running_loop().create_task(self._send(key, batch))
            self._senders.add(sender)
            sender.add_done_callback(self._senders.discard)
        batch.workloads.add((namespace, target))
        # Shielded: one Canary's tick being cancelled must not cancel the others' answer.
        answer = await asyncio.shield(batch.answer)
        own = promql if promql is not None else builtin_query(metric_name, namespace, target,
                                                              interval)
        return pick(answer, compact_query(own), (namespace, target))

    async def _send(self, key: tuple[str, str], batch: _Batch) -> None:
        try:
            # The batch stays open (others join it) for this loop turn and while the
            # previous query of its kind is in flight.
            await asyncio.sleep(self.window_seconds)
            async with self._in_flight.setdefault(key, asyncio.Lock()):
                if self._open.get(key) is batch:
                    del self._open[key]  # later queries start the next batch
                try:
                    result = await self.provider.query_series(
                        batch_builtin_query(key[0], batch.workloads, key[1]))
                    answer = by_workload(result)
                except Exception as error:  # the waiting ticks get an error, never hang
                    answer = BatchAnswer(f"batched query failed: {error}", {})
            batch.answer.set_result(answer)
        finally:
            if self._open.get(key) is batch:
                del self._open[key]
            if not batch.answer.done():  # cancelled: so are the ticks waiting on it
                batch.answer.cancel()

    async def aclose(self) -> None:
        for sender in list(self._senders):
            sender.cancel()
        await asyncio.gather(*self._senders, return_exceptions=True)


def by_workload(result: SeriesResult) -> BatchAnswer:
    """A batch query's series indexed by (namespace, workload)."""
    if result.error is not None:
        return BatchAnswer(result.error, {}, invalid=result.invalid)
    return BatchAnswer(None, {
        (labels.get("destination_workload_namespace", ""),
         labels.get("destination_workload", "")): value
        for labels, value in result.series})


def pick(answer: BatchAnswer, query: str, workload: Workload) -> QueryResult:
    """One workload's result from a batch's answer: its series' value, or no data when the
    answer has no series for it (no traffic), reported under the workload's own `query`."""
    if answer.error is not None:
        return QueryResult(query, None, answer.error, invalid=answer.invalid)
    return QueryResult(query, answer.values.get(workload))
