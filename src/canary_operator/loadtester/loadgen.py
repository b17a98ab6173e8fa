"""The built-in hey: HTTP load from asyncio workers, with hey's pacing and its summary.

Like hey, `workers` loops run side by side; with a rate each waits 1/rate seconds before
every request (a ticker that drops the ticks it misses, so a slow target never gets a
burst afterwards), so the whole load is `workers * rate` requests per second. With a
duration the workers stop starting requests once it is over; without one each sends
`requests // workers` requests (hey drops the remainder too). TLS certificates are not
verified, as hey does not verify them either.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from canary_operator.loadtester.hey import HeyOptions

USER_AGENT = "hey/0.0.1 (canary-operator loadtester)"
MAX_ERROR_TEXT = 200


@dataclass
class LoadReport:
    """What a run did: hey's summary, from which `summary()` writes hey's text."""

    elapsed: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]

    def summary(self) -> str:
        lines = ["Summary:", f"  Total:\t{self.elapsed:.4f} secs"]
        if self.latencies:
            lines += [
                f"  Slowest:\t{max(self.latencies):.4f} secs",
                f"  Fastest:\t{min(self.latencies):.4f} secs",
                f"  Average:\t{sum(self.latencies) / len(self.latencies):.4f} secs",
            ]
        rate = self.sent / self.elapsed if self.elapsed > 0 else 0.0
        lines += [f"  Requests/sec:\t{rate:.4f}", f"  Requests:\t{self.sent}", ""]
        if self.latencies:
            lines.append("Latency distribution:")
            lines += [f"  {p}% in {self.percentile(p / 100):.4f} secs"
                      for p in (10, 25, 50, 75, 90, 95, 99)]
            lines.append("")
        lines.append("Status code distribution:")
        lines += [f"  [{code}]\t{count} responses" for code, count in sorted(self.statuses.items())]
        if self.errors:
            lines += ["", "Error distribution:"]
            lines += [f"  [{count}]\t{text}" for text, count in self.errors.most_common()]
        return "\n".join(lines) + "\n"


def _headers(options: HeyOptions) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Content-Type": options.content_type}
    if options.accept:
        headers["Accept"] = options.accept
    if options.disable_keepalive:
        headers["Connection"] = "close"
    for name, value in options.headers:
        headers[name] = value  # -H wins over -T and -A, as in hey
    if options.host:
        headers["Host"] = options.host
    return headers


def client_for(options: HeyOptions,
               transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """An httpx client configured as hey configures Go's: one connection per worker."""
    keepalive = 0 if options.disable_keepalive else options.workers
    return httpx.AsyncClient(
        headers=_headers(options),
        timeout=options.timeout or None,
        follow_redirects=not options.disable_redirects,
        limits=httpx.Limits(max_connections=options.workers,
                            max_keepalive_connections=keepalive),
        auth=options.basic_auth,
        proxy=options.proxy,
        verify=False,
        transport=transport,
    )


async def generate_load(options: HeyOptions,
                        transport: httpx.AsyncBaseTransport | None = None) -> LoadReport:
    """Run the load `options` describe and report it; cancelling stops the workers."""
    body = options.body
    if options.body_file is not None:
        body = await asyncio.to_thread(Path(options.body_file).read_bytes)
    report = LoadReport()
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + options.duration if options.duration is not None else math.inf
    interval = 1.0 / options.rate if options.rate > 0 else 0.0

    async def one_request(client: httpx.AsyncClient) -> None:
        t0 = time.perf_counter()
        try:
            response = await client.request(options.method, options.url, content=body)
        except httpx.HTTPError as error:
            text = f"{options.method} {options.url}: {type(error).__name__}: {error}"
            report.errors[text[:MAX_ERROR_TEXT]] += 1
            return
        report.latencies.append(time.perf_counter() - t0)
        report.statuses[response.status_code] += 1

    async def worker(client: httpx.AsyncClient, count: int | None) -> None:
        next_tick = started + interval
        done = 0
        while count is None or done < count:
            if interval:
                now = loop.time()
                if next_tick > now:
                    await asyncio.sleep(next_tick - now)
                    next_tick += interval
                else:  # behind: the missed ticks are dropped, not made up for
                    next_tick = now + interval
            if loop.time() >= deadline:
                return
            await one_request(client)
            done += 1

    async with client_for(options, transport) as client:
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(options.workers):
                    group.create_task(worker(client, options.requests_per_worker))
        finally:
            report.elapsed = loop.time() - started
    return report
