"""The per-tenant spend ledger: its Protocol, its domain types and its errors.

The LLM route holds budget BEFORE it calls the upstream and settles after, so concurrent requests cannot
overspend (the usual check-then-bill-after gateway lets N requests all pass the check at once):

    # may raise BudgetWouldBeExceeded:
    reservation = await ledger.reserve(tenant, worst_case_usd, budget, now=clock())
    try:
        usage = await call_upstream(...)
    except BaseException:
        await ledger.release(reservation)
        raise
    await ledger.settle(reservation, cost_usd(usage.input, usage.output, price))

Guarantee: for every tenant and each of its windows (UTC day, UTC month), committed spend + live
reservations never exceed the limit at the moment `reserve` admits a request. `reserve` checks both windows
and records the hold in one atomic step of the store (an SQLite `BEGIN IMMEDIATE` transaction, one Redis Lua
script). Settlement may then record MORE than was held when the upstream over-delivers (an under-estimated
prompt): the ledger records the truth, and the tenant's next requests are refused until the window rolls.

Windows are named by their UTC keys (`2026-01-31`, `2026-01`) computed from the caller's `now`; a new window
starts at zero by itself. A reservation is charged to the windows it was made in, even when it is settled
after midnight.

Reservation expiry: a reservation that is never settled (the process crashed mid-request) stops counting
against the budget `reservation_ttl_s` after it was made (default 600 s). Set it above the longest request
the gateway allows (the upstream's total timeout), or a still-running request stops being held. A settle
that arrives after expiry still records its actual cost. Expired reservations are forgotten for good a day
later (`EXPIRED_GRACE_S`); a settle after that is ignored, like a second settle of the same reservation.

Errors (raised by every ledger):

    LedgerError
    ├── BudgetWouldBeExceeded  the request would take the tenant past a hard limit → 429 `budget_exceeded`
    └── LedgerUnavailable      the store is unreachable or stayed locked too long  → 503

Money is kept in whole nano-dollars (1e-9 USD) inside the stores, so sums are exact and the limit check does
not drift with floating-point error; the API speaks float USD.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

__all__ = [
    "EXPIRED_GRACE_S",
    "Budget",
    "BudgetWouldBeExceeded",
    "LedgerError",
    "LedgerUnavailable",
    "Reservation",
    "SpendLedger",
    "SpendSnapshot",
    "Window",
    "from_nano",
    "to_nano",
]

Window = Literal["daily", "monthly"]

NANO_PER_USD = 1_000_000_000
# How long an expired, never-settled reservation is remembered so that a very late settle still records
# its cost (and a second settle is still recognised as one).
EXPIRED_GRACE_S = 86_400.0


def to_nano(usd: float, *, what: str = "amount") -> int:
    """USD as whole nano-dollars; refuses negative, NaN and infinite amounts."""
    if not math.isfinite(usd) or usd < 0:
        raise ValueError(f"{what} must be a finite number of USD >= 0, got {usd!r}")
    return round(usd * NANO_PER_USD)


def from_nano(nano: int) -> float:
    return nano / NANO_PER_USD


@dataclass(frozen=True, slots=True)
class Budget:
    """A tenant's hard limits in USD per UTC day and per UTC month; None means unlimited."""

    daily_usd: float | None
    monthly_usd: float | None

    def __post_init__(self) -> None:
        for name in ("daily_usd", "monthly_usd"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ValueError(f"Budget.{name} must be None or a finite number >= 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class Reservation:
    """Budget held for one in-flight request; hand it back to `settle` or `release` exactly once."""

    id: str
    tenant: str
    amount_usd: float
    day_key: str
    month_key: str


@dataclass(frozen=True, slots=True)
class SpendSnapshot:
    """A tenant's spend in the windows containing `now`.

    `day_usd` / `month_usd` are what the hard limit is checked against: committed spend PLUS live
    reservations (the conservative figure, and the one to compare with the soft fraction for alerts).
    The two parts are reported too: `*_committed_usd` (settled cost, what a spend counter should show) and
    `*_reserved_usd` (held by requests still in flight).
    """

    day_key: str
    month_key: str
    day_usd: float
    month_usd: float
    day_committed_usd: float
    month_committed_usd: float
    day_reserved_usd: float
    month_reserved_usd: float

    @classmethod
    def from_nano(
        cls, day_key: str, month_key: str, committed: tuple[int, int], held: tuple[int, int]
    ) -> SpendSnapshot:
        """From the stores' nano-USD (committed day, month) and (held day, month): exact sums, then floats."""
        return cls(
            day_key=day_key,
            month_key=month_key,
            day_usd=from_nano(committed[0] + held[0]),
            month_usd=from_nano(committed[1] + held[1]),
            day_committed_usd=from_nano(committed[0]),
            month_committed_usd=from_nano(committed[1]),
            day_reserved_usd=from_nano(held[0]),
            month_reserved_usd=from_nano(held[1]),
        )


class LedgerError(Exception):
    """Base of every error a spend ledger raises."""


class BudgetWouldBeExceeded(LedgerError):
    """Reserving `requested_usd` could push `tenant` over its `window` limit; nothing was reserved."""

    def __init__(
        self, tenant: str, window: Window, limit_usd: float, spent_usd: float, requested_usd: float
    ) -> None:
        self.tenant = tenant
        self.window: Window = window
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.requested_usd = requested_usd
        super().__init__(
            f"tenant {tenant!r} {window} budget exceeded: limit ${limit_usd:.6f}, "
            f"spent or held ${spent_usd:.6f}, this request may cost up to ${requested_usd:.6f}"
        )

    def __reduce__(self) -> tuple[type[BudgetWouldBeExceeded], tuple[str, Window, float, float, float]]:
        # Keeps the exception picklable (multiprocessing workers, process pools).
        args = (self.tenant, self.window, self.limit_usd, self.spent_usd, self.requested_usd)
        return (type(self), args)


class LedgerUnavailable(LedgerError):
    """The ledger's store could not be reached or stayed locked; the request's budget state is unknown."""


class SpendLedger(Protocol):
    """Where per-tenant spend is held and committed. `SqliteLedger` and `RedisLedger` implement it."""

    async def reserve(self, tenant: str, amount_usd: float, budget: Budget, *, now: datetime) -> Reservation:
        """Atomically check both windows and hold `amount_usd`, or raise `BudgetWouldBeExceeded` naming one.

        If the calling task is cancelled mid-call, a hold the store may already have made is released.
        """
        ...

    async def settle(self, reservation: Reservation, actual_usd: float) -> None:
        """Replace the held amount by the actual cost (which may exceed it). A second call is a no-op.

        It lands even if the calling task is cancelled while it runs (a client that disconnects mid-stream
        still cost what was generated), so the route need not shield it.
        """
        ...

    async def release(self, reservation: Reservation) -> None:
        """Give the held amount back (settle to 0).

        For a request that failed before the upstream generated anything. A stream cut off midway did cost
        something: settle it with the tokens counted so far instead.
        """
        ...

    async def spend(self, tenant: str, *, now: datetime) -> SpendSnapshot:
        """The tenant's committed + live-reserved spend in the windows containing `now`."""
        ...

    async def close(self) -> None:
        """Release the store's connections and threads. The ledger is unusable afterwards."""
        ...
