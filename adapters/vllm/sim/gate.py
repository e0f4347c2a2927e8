"""The simulator's scheduler stand-in: at most `limit` sequences run at once, the rest wait in FIFO order.

`running` and `waiting` feed `vllm:num_requests_running` / `vllm:num_requests_waiting`, and the time a
request spends waiting is its queue time. The free-slot path does not touch the event loop, since with
zero latency every request takes it:

    if not gate.try_acquire():
        await gate.acquire()
    try:
        ...  # generate
    finally:
        gate.release()
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["Gate"]


class Gate:
    """A FIFO semaphore that counts its holders and its waiters (event-loop thread only)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def try_acquire(self) -> bool:
        """Take a slot if one is free and nobody is queued ahead."""
        if self.running < self.limit and not self._waiters:
            self.running += 1
            return True
        return False

    async def acquire(self) -> None:
        if self.try_acquire():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                # The slot was handed to us just as we were cancelled: pass it on.
                self.release()
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        # Hand the slot straight to the next waiter, so `running` never dips and lets a newcomer jump
        # the queue.
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.running -= 1

    def state(self) -> tuple[int, int, int]:
        """(running, waiting, limit), read by the metrics collector at scrape time."""
        return self.running, len(self._waiters), self.limit
