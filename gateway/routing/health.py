"""Per-replica health as a small state machine with an injected clock: no I/O, unit-tested directly.

Two ways in, one way back:
- passive: `failure()` after a connect error, 5xx or timeout; `eject_after` of them in a row eject it;
- active: a failed `GET /health` ejects it at once (the engine itself says it is not serving);
- back: once `ejected_until` has passed, the next active probe that succeeds re-admits it. Each ejection
  in a row doubles the wait (`base_s`, 2×, 4× … up to `max_s`), so a flapping replica is kept out longer;
  the streak is forgotten after the replica has stayed healthy for `max_s`.

    health = ReplicaHealth(eject_after=3, base_s=2, max_s=60, clock=time.monotonic)
    health.failure(); health.failure(); health.failure()
    health.healthy                      # False: no traffic until a probe succeeds after 2 s
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["ReplicaHealth"]


class ReplicaHealth:
    __slots__ = (
        "_clock",
        "admitted_at",
        "base_s",
        "consecutive_failures",
        "eject_after",
        "ejected_until",
        "ejections",
        "healthy",
        "last_reason",
        "max_s",
        "streak",
    )

    def __init__(
        self,
        *,
        eject_after: int,
        base_s: float,
        max_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.eject_after = eject_after
        self.base_s = base_s
        self.max_s = max_s
        self._clock = clock
        self.healthy = True
        self.consecutive_failures = 0
        self.streak = 0  # ejections in a row, for the backoff
        self.ejections = 0  # ever, for the counter
        self.ejected_until = 0.0
        self.admitted_at = clock()
        self.last_reason = ""

    def success(self) -> None:
        """A request (or a 4xx answer: the server is up) went through."""
        self.consecutive_failures = 0
        if self.healthy and self.streak and self._clock() - self.admitted_at >= self.max_s:
            self.streak = 0

    def failure(self, reason: str = "request") -> bool:
        """A connect error, 5xx or timeout. True when this one ejected the replica."""
        self.consecutive_failures += 1
        if self.healthy and self.consecutive_failures >= self.eject_after:
            self.eject(reason)
            return True
        return False

    def eject(self, reason: str) -> None:
        now = self._clock()
        self.healthy = False
        self.last_reason = reason
        self.ejected_until = now + min(self.max_s, self.base_s * 2**self.streak)
        self.streak += 1
        self.ejections += 1

    def probe_due(self) -> bool:
        """An ejected replica whose backoff has passed: the next active check may re-admit it."""
        return not self.healthy and self._clock() >= self.ejected_until

    def probe_result(self, ok: bool) -> None:
        """Record an active `GET /health`: a failure ejects (again, with a longer backoff); a success
        re-admits an ejected replica whose backoff is over."""
        if not ok:
            if self.healthy:
                self.eject("health check")
            elif self.probe_due():
                self.eject("health check")  # still down: back off longer
            return
        if not self.healthy and self.probe_due():
            self.healthy = True
            self.consecutive_failures = 0
            self.admitted_at = self._clock()
        elif self.healthy and self.streak and self._clock() - self.admitted_at >= self.max_s:
            self.streak = 0
