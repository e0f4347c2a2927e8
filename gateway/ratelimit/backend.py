"""Where the rate-limit logs live: the `LimiterBackend` Protocol and its in-process implementation.

    backend = MemoryLimiter()
    outcome = await backend.admit([Bucket("acme", rpm=30, tpm=None)], entry_id="a1", cost=500, now=now)

A request is checked against all its buckets (the tenant's, and its key's when the key has limits of its
own) and recorded in all of them, or in none: one atomic step. In one process that step has no `await`
inside, so no other request interleaves (the event loop is single-threaded); `RedisLimiter` makes the same
step one Lua script for a fleet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gateway.ratelimit.window import WINDOW_S, BucketState, Refusal, check

__all__ = ["AdmitOutcome", "Bucket", "LimiterBackend", "LimiterUnavailable", "MemoryLimiter"]


class LimiterUnavailable(Exception):
    """The backend could not be reached; the request's rate-limit state is unknown."""


@dataclass(frozen=True, slots=True)
class Bucket:
    """One limited subject: `group` (the tenant, which keeps a tenant's buckets together in Redis) and
    `key` (`t` for the tenant itself, `k:<key id>` for one of its keys)."""

    group: str
    key: str
    rpm: int | None
    tpm: int | None

    @property
    def limit_prefix(self) -> str:
        """The `limit` metric label's prefix: '' for the tenant's limits, 'key_' for a key's."""
        return "" if self.key == "t" else "key_"


@dataclass(frozen=True, slots=True)
class AdmitOutcome:
    """Admitted: `states` per bucket (after recording). Refused: `refusal` and the bucket that refused."""

    states: list[BucketState] = field(default_factory=list)
    refusal: Refusal | None = None
    refused_bucket: int = -1


class LimiterBackend(Protocol):
    async def admit(self, buckets: Sequence[Bucket], *, entry_id: str, cost: int, now: float) -> AdmitOutcome:
        """Check every bucket and, if all fit, record the request in each, atomically."""
        ...

    async def settle(self, buckets: Sequence[Bucket], *, entry_id: str, tokens: int) -> None:
        """Correct the request's token count (held at the worst case) to what it really used."""
        ...

    async def close(self) -> None: ...


class MemoryLimiter:
    """Sliding logs in this process's memory (the embedded default: one gateway process)."""

    def __init__(self) -> None:
        # bucket -> entry id -> [admitted at, tokens]; dicts keep insertion order, i.e. oldest first.
        self._logs: dict[tuple[str, str], dict[str, list[float | int]]] = {}

    def _live(self, bucket: Bucket, now: float) -> dict[str, list[float | int]]:
        log = self._logs.setdefault((bucket.group, bucket.key), {})
        horizon = now - WINDOW_S
        while log:
            first = next(iter(log))
            if log[first][0] > horizon:
                break
            del log[first]
        return log

    async def admit(self, buckets: Sequence[Bucket], *, entry_id: str, cost: int, now: float) -> AdmitOutcome:
        logs = [self._live(b, now) for b in buckets]
        for i, (bucket, log) in enumerate(zip(buckets, logs, strict=True)):
            entries = [(float(at), int(c)) for at, c in log.values()]
            refusal = check(entries, now=now, cost=cost, rpm=bucket.rpm, tpm=bucket.tpm)
            if refusal is not None:
                return AdmitOutcome(refusal=refusal, refused_bucket=i)
        states = []
        for bucket, log in zip(buckets, logs, strict=True):
            log[entry_id] = [now, cost]
            oldest = float(next(iter(log.values()))[0])
            tokens = sum(int(c) for _, c in log.values())
            states.append(BucketState(bucket.rpm, bucket.tpm, len(log), tokens, oldest))
        self._gc()
        return AdmitOutcome(states=states)

    def _gc(self) -> None:
        # Empty logs of idle buckets go, so memory follows the active tenants, not every tenant ever seen.
        if len(self._logs) > 1024:
            for name in [n for n, log in self._logs.items() if not log]:
                del self._logs[name]

    async def settle(self, buckets: Sequence[Bucket], *, entry_id: str, tokens: int) -> None:
        for bucket in buckets:
            entry = self._logs.get((bucket.group, bucket.key), {}).get(entry_id)
            if entry is not None:
                entry[1] = tokens

    async def close(self) -> None:
        self._logs.clear()
