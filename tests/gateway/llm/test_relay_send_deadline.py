"""The relay's client-send deadline (`_SendDeadline`): one timer per stream, re-armed while sends keep
completing, firing only for a send that is still blocked past its own deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from gateway.llm.relay import _SendDeadline


async def _sends(gaps_s: list[float], send_s: list[float], timeout_s: float) -> tuple[bool, int]:
    """Run sends of the given durations with pauses between them; (whether the guard cut one, how many
    completed)."""
    done = 0

    async def relay() -> None:
        nonlocal done
        guard = _SendDeadline(task, timeout_s)
        try:
            for gap, duration in zip(gaps_s, send_s, strict=True):
                await asyncio.sleep(gap)
                guard.start()
                try:
                    await asyncio.sleep(duration)  # a send that takes this long
                finally:
                    guard.sending = False
                done += 1
        finally:
            guard.close()

    task = asyncio.get_running_loop().create_task(relay())
    try:
        await task
    except asyncio.CancelledError:
        return True, done
    return False, done


def test_sends_that_each_finish_in_time_are_never_cut_however_long_the_stream() -> None:
    # 12 sends of 40 ms with 30 ms pauses: 0.84 s in all, four times the 0.2 s deadline of one send.
    cut, done = asyncio.run(_sends([0.03] * 12, [0.04] * 12, timeout_s=0.2))
    assert (cut, done) == (False, 12)


def test_a_send_blocked_past_its_deadline_is_cut_after_the_deadline_not_before() -> None:
    (cut, done), elapsed = asyncio.run(_timed(_sends([0.0, 0.05, 0.0], [0.01, 0.01, 5.0], timeout_s=0.2)))
    assert (cut, done) == (True, 2)
    assert 0.2 <= elapsed < 1.0


async def _timed(work: Coroutine[Any, Any, tuple[bool, int]]) -> tuple[tuple[bool, int], float]:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    result = await work
    return result, loop.time() - t0
