"""At most `max_concurrent_ticks` Canaries tick at once; the others wait their turn."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes.aio.client import ApiClient
from pydantic import ValidationError

from canary_operator.controller import CanaryController
from canary_operator.controller.canary import TickResult
from canary_operator.settings import OperatorSettings


async def test_ticks_beyond_the_limit_wait_for_a_free_slot() -> None:
    api = ApiClient()
    controller = CanaryController(api, OperatorSettings(max_concurrent_ticks=3),
                                  post_event=lambda _body, _event: None)
    running, most = 0, 0
    release = asyncio.Event()

    async def tick(body: Any, view: Any) -> TickResult:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await release.wait()
        running -= 1
        return TickResult(1.0)

    controller._tick = tick  # type: ignore[method-assign]
    ticks = [asyncio.create_task(controller.tick({}, None)) for _ in range(10)]  # type: ignore[arg-type]
    while running < 3:
        await asyncio.sleep(0)
    for _ in range(20):  # give the waiting ones every chance to start too early
        await asyncio.sleep(0)
    assert (running, most) == (3, 3)
    release.set()
    results = await asyncio.gather(*ticks)
    assert [r.next_tick_seconds for r in results] == [1.0] * 10
    assert most == 3
    await controller.aclose()
    await api.close()


def test_the_limit_defaults_to_64_and_must_be_positive() -> None:
    assert OperatorSettings().max_concurrent_ticks == 64
    with pytest.raises(ValidationError, match="max_concurrent_ticks"):
        OperatorSettings(max_concurrent_ticks=0)


async def test_draining_waits_for_the_ticks_under_way_and_starts_no_new_one() -> None:
    api = ApiClient()
    controller = CanaryController(api, OperatorSettings(), post_event=lambda _b, _e: None)
    started: list[int] = []
    release = asyncio.Event()

    async def tick(body: Any, view: Any) -> TickResult:
        started.append(len(started))
        await release.wait()
        return TickResult(5.0)

    controller._tick = tick  # type: ignore[method-assign]
    under_way = asyncio.create_task(controller.tick({}, None))  # type: ignore[arg-type]
    while not started:
        await asyncio.sleep(0)
    assert await controller.drain(0.05) is False  # still under way
    late = await controller.tick({}, None)  # type: ignore[arg-type]
    assert (late.decision, late.problem) == (None, None)
    assert started == [0]
    draining = asyncio.create_task(controller.drain(5))
    for _ in range(10):
        await asyncio.sleep(0)
    assert not draining.done()
    release.set()
    assert await draining is True
    assert (await under_way).next_tick_seconds == 5.0
    await controller.aclose()
    await api.close()
