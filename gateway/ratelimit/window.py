"""The rate-limit arithmetic, pure: a sliding log over the last 60 s, and OpenAI's header values.

Algorithm: **sliding window log** (each admitted request is recorded with its time and token cost; a
request is admitted when, counting everything recorded in the 60 s before it, neither the request count nor
the token sum would pass its limit). Unlike a fixed window (2× bursts at the boundary), a sliding window
*counter* (an estimate) or GCRA (a rate, which admits a full burst and then the steady rate within the same
minute), it guarantees the sentence users read in the docs: *at most `rpm` requests and `tpm` tokens in any
60 s*. The cost is one log entry per request in the window, bounded by `rpm`.

Tokens are held at the worst case when a request is admitted and corrected to the real count when it
settles (`corrected_sum`), like the budget ledger's reservations.

    log = [(t0, 900), (t0 + 5, 1200)]            # (admitted at, tokens) still in the window, oldest first
    refusal = check(log, now=t0 + 10, cost=2000, rpm=10, tpm=3000)   # -> Refusal("tpm", 50.0)

The memory limiter runs these functions directly; the Redis limiter runs the same steps in one Lua script
(tests hold the two to the same contract).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "WINDOW_S",
    "BucketState",
    "Refusal",
    "check",
    "format_reset",
    "reset_after",
    "retry_after_requests",
    "retry_after_tokens",
]

WINDOW_S = 60.0

Entry = tuple[float, int]  # (admitted at, tokens held or settled)


@dataclass(frozen=True, slots=True)
class Refusal:
    limit: str  # "rpm" or "tpm"
    retry_after_s: float | None  # None: the request can never fit (it alone needs more than tpm)


@dataclass(frozen=True, slots=True)
class BucketState:
    """A bucket after an admission, for the response headers."""

    rpm: int | None
    tpm: int | None
    requests: int
    tokens: int
    oldest_at: float | None


def in_window(entries: Sequence[Entry], now: float) -> list[Entry]:
    """The entries that still count at `now` (admitted less than WINDOW_S ago)."""
    horizon = now - WINDOW_S
    return [e for e in entries if e[0] > horizon]


def retry_after_requests(entries: Sequence[Entry], rpm: int, now: float) -> float:
    """Seconds until one more request fits: when the entry that keeps the count at `rpm` leaves."""
    # After entries[0..k] leave, len - (k + 1) requests remain; we need that < rpm, so k = len - rpm.
    k = len(entries) - rpm
    return max(entries[k][0] + WINDOW_S - now, 0.0)


def retry_after_tokens(entries: Sequence[Entry], tpm: int, cost: int, now: float) -> float | None:
    """Seconds until `cost` more tokens fit under `tpm`, or None if they never can."""
    if cost > tpm:
        return None
    used = sum(c for _, c in entries)
    for at, c in entries:
        used -= c
        if used + cost <= tpm:
            return max(at + WINDOW_S - now, 0.0)
    return 0.0  # unreachable: with every entry gone, used is 0 and cost <= tpm


def check(
    entries: Sequence[Entry], *, now: float, cost: int, rpm: int | None, tpm: int | None
) -> Refusal | None:
    """Whether one more request costing `cost` tokens fits; `entries` are in-window, oldest first."""
    if rpm is not None and len(entries) + 1 > rpm:
        return Refusal("rpm", retry_after_requests(entries, rpm, now))
    if tpm is not None and sum(c for _, c in entries) + cost > tpm:
        return Refusal("tpm", retry_after_tokens(entries, tpm, cost, now))
    return None


def reset_after(oldest_at: float | None, now: float) -> float:
    """Seconds until the window's oldest entry leaves it, i.e. until `remaining` next grows (0 if empty)."""
    return 0.0 if oldest_at is None else max(oldest_at + WINDOW_S - now, 0.0)


def format_reset(seconds: float) -> str:
    """A duration as OpenAI writes `x-ratelimit-reset-*`: `1m30s`, `6s`, `250ms`."""
    if seconds < 1:
        return f"{max(math.ceil(seconds * 1000), 0)}ms"
    whole = math.ceil(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"
