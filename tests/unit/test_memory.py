"""The operator gives freed heap memory back to the system on glibc."""

from __future__ import annotations

import asyncio
import platform

import pytest

from canary_operator.memory import malloc_trim, trim_forever


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_glibc_has_malloc_trim_and_it_answers() -> None:
    trim = malloc_trim()
    assert trim is not None
    assert trim() in (0, 1)  # 1: memory was released, 0: there was none to release


async def test_trims_on_its_interval_until_cancelled() -> None:
    calls: list[int] = []
    task = asyncio.create_task(trim_forever(lambda: calls.append(1) or 1, seconds=0.01))
    while len(calls) < 3:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(calls) >= 3


async def test_a_failing_trim_stops_trimming_without_raising() -> None:
    def broken() -> int:
        raise OSError("no")

    await asyncio.wait_for(trim_forever(broken, seconds=0.01), timeout=5)
