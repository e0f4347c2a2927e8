"""The fleet spend ledger: Redis, shared by every gateway replica, each check-and-hold one Lua script.

    client = redis.asyncio.Redis.from_url("redis://redis:6379/0")
    ledger = RedisLedger(client, owns_client=True)

Redis runs a script to completion before any other command, so `reserve` (expire due holds, read both
windows' committed spend and live holds, compare with the limits, record the hold) is atomic across all
replicas, and `settle` (drop the hold, add the actual cost) likewise. One round trip each.

Keys, per tenant T (all carry the hash tag `{T}`, so one tenant's keys share a Redis Cluster slot and a
script may touch them together):

    <prefix>{T}:spend:<period>  committed nano-USD for a window (`YYYY-MM-DD` or `YYYY-MM`);
                                expires `WINDOW_MARGIN_S` after the window ends
    <prefix>{T}:held            hash period -> nano-USD held by live reservations
    <prefix>{T}:resv            hash reservation id -> "L|amount|day|month" (live) or "X|…" (expired)
    <prefix>{T}:due             sorted set reservation id -> when it expires (or, once expired, is forgotten)

Expiry is lazy: each `reserve` and `spend` first processes up to `_EXPIRE_BATCH` due reservations — a
live one stops counting (its amount leaves `held`, it is marked expired and kept `EXPIRED_GRACE_S` longer so
a late settle still records its cost), an expired one is forgotten. The clock is the caller's `now`, so
replicas' clocks should agree to well within `reservation_ttl_s` (NTP does).

Cancellation: `settle` runs as a task the ledger keeps, shielded from the caller's cancellation, so it
lands even when the client is gone; a cancelled `reserve` queues a release of its hold (best effort, see
`reserve`). `close()` waits (up to `_CLOSE_TIMEOUT_S`) for those before closing an owned client.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Coroutine, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

import redis.asyncio
from redis.exceptions import RedisError

from gateway.budget.ledger import (
    EXPIRED_GRACE_S,
    Budget,
    BudgetWouldBeExceeded,
    LedgerUnavailable,
    Reservation,
    SpendSnapshot,
    Window,
    from_nano,
    to_nano,
)
from gateway.budget.windows import ends_of_keys, window_keys

__all__ = ["WINDOW_MARGIN_S", "RedisLedger"]

# Committed spend stays readable this long after its window ends (yesterday's figure for dashboards), and
# a settle arriving after midnight for yesterday's reservation still finds its key.
WINDOW_MARGIN_S = 2 * 86_400
_MIN_SPEND_TTL_S = 3600
_CLOSE_TIMEOUT_S = 5.0
_T = TypeVar("_T")
_EXPIRE_BATCH = 100

# Shared prologue. KEYS: 1 spend(day) 2 spend(month) 3 held 4 resv 5 due. ARGV[1] is always `now`.
# Amounts travel as decimal strings and are only ever added with HINCRBY/INCRBY, never formatted by Lua
# (Lua's number-to-string keeps only 14 significant digits).
_PROLOGUE = """
local held, resv, due = KEYS[3], KEYS[4], KEYS[5]
local function unhold(period, amt)
  if amt ~= '0' and redis.call('HINCRBY', held, period, '-' .. amt) <= 0 then
    redis.call('HDEL', held, period)
  end
end
local function expire_due(now, grace)
  local items = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'WITHSCORES', 'LIMIT', 0, __BATCH__)
  for i = 1, #items, 2 do
    local rid = items[i]
    local v = redis.call('HGET', resv, rid)
    local forget_at = tonumber(items[i + 1]) + grace
    if v and string.sub(v, 1, 1) == 'L' then
      local amt, d, m = string.match(v, '^L|(%d+)|([^|]+)|([^|]+)$')
      unhold(d, amt)
      unhold(m, amt)
    end
    if v and string.sub(v, 1, 1) == 'L' and forget_at > tonumber(now) then
      redis.call('HSET', resv, rid, 'X' .. string.sub(v, 2))
      redis.call('ZADD', due, forget_at, rid)
    else
      redis.call('HDEL', resv, rid)
      redis.call('ZREM', due, rid)
    end
  end
end
local function num(v)
  return tonumber(v or '0')
end
""".replace("__BATCH__", str(_EXPIRE_BATCH))

# ARGV: 1 now, 2 grace, 3 id, 4 amount, 5 daily limit ('' = none), 6 monthly limit, 7 day, 8 month,
# 9 expires_at, 10 pexpire (ms) for held/resv/due.
# Returns {'ok', 0} or {'daily'|'monthly', spent_or_held}.
_RESERVE = (
    _PROLOGUE
    + """
expire_due(ARGV[1], tonumber(ARGV[2]))
local amount = tonumber(ARGV[4])
local cd = num(redis.call('GET', KEYS[1])) + num(redis.call('HGET', held, ARGV[7]))
if ARGV[5] ~= '' and cd + amount > tonumber(ARGV[5]) then return {'daily', cd} end
local cm = num(redis.call('GET', KEYS[2])) + num(redis.call('HGET', held, ARGV[8]))
if ARGV[6] ~= '' and cm + amount > tonumber(ARGV[6]) then return {'monthly', cm} end
redis.call('HSET', resv, ARGV[3], 'L|' .. ARGV[4] .. '|' .. ARGV[7] .. '|' .. ARGV[8])
redis.call('ZADD', due, ARGV[9], ARGV[3])
if ARGV[4] ~= '0' then
  redis.call('HINCRBY', held, ARGV[7], ARGV[4])
  redis.call('HINCRBY', held, ARGV[8], ARGV[4])
end
for k = 3, 5 do redis.call('PEXPIRE', KEYS[k], ARGV[10]) end
return {'ok', 0}
"""
)

# ARGV: 1 now (unused), 2 id, 3 actual, 4 day key TTL (s), 5 month key TTL (s). Returns 1 if settled.
_SETTLE = (
    _PROLOGUE
    + """
local v = redis.call('HGET', resv, ARGV[2])
if not v then return 0 end
local state, amt, d, m = string.match(v, '^(%a)|(%d+)|([^|]+)|([^|]+)$')
if state == 'L' then
  unhold(d, amt)
  unhold(m, amt)
end
redis.call('HDEL', resv, ARGV[2])
redis.call('ZREM', due, ARGV[2])
if ARGV[3] ~= '0' then
  redis.call('INCRBY', KEYS[1], ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  redis.call('INCRBY', KEYS[2], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[5])
end
return 1
"""
)

# ARGV: 1 now, 2 grace, 3 day, 4 month. Returns {committed day, committed month, held day, held month}.
_USAGE = (
    _PROLOGUE
    + """
expire_due(ARGV[1], tonumber(ARGV[2]))
return {num(redis.call('GET', KEYS[1])), num(redis.call('GET', KEYS[2])),
        num(redis.call('HGET', held, ARGV[3])), num(redis.call('HGET', held, ARGV[4]))}
"""
)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisLedger:
    """A `SpendLedger` on Redis. See the module docstring for the key layout and the atomicity story."""

    def __init__(
        self,
        client: redis.asyncio.Redis,  # type: ignore[type-arg]  # generic in types-redis, not in redis 8
        *,
        key_prefix: str = "modelgate:budget:",
        reservation_ttl_s: float = 600,
        owns_client: bool = False,
    ) -> None:
        if reservation_ttl_s <= 0:
            raise ValueError(f"reservation_ttl_s must be > 0, got {reservation_ttl_s}")
        self.key_prefix = key_prefix
        self.reservation_ttl_s = float(reservation_ttl_s)
        self._client = client
        self._owns_client = owns_client
        self._reserve = client.register_script(_RESERVE)
        self._settle = client.register_script(_SETTLE)
        self._usage = client.register_script(_USAGE)
        self._pending: set[asyncio.Task[Any]] = set()
        # held/resv/due outlive every reservation they describe, then vanish with an idle tenant.
        self._meta_ttl_ms = math.ceil((self.reservation_ttl_s + EXPIRED_GRACE_S + 3600) * 1000)

    def _keys(self, tenant: str, day: str, month: str) -> list[str]:
        base = f"{self.key_prefix}{{{tenant}}}:"
        return [f"{base}spend:{day}", f"{base}spend:{month}", f"{base}held", f"{base}resv", f"{base}due"]

    async def _call(self, script: Any, keys: Sequence[str], args: Sequence[str | int | float]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except RedisError as exc:
            raise LedgerUnavailable(f"spend ledger on Redis: {exc}") from exc

    async def reserve(self, tenant: str, amount_usd: float, budget: Budget, *, now: datetime) -> Reservation:
        amount = to_nano(amount_usd)
        limit_d = "" if budget.daily_usd is None else str(to_nano(budget.daily_usd))
        limit_m = "" if budget.monthly_usd is None else str(to_nano(budget.monthly_usd))
        day, month = window_keys(now)
        rid = os.urandom(12).hex()  # 96 random bits; uuid4 costs 5x more for nothing we need
        now_ts = now.timestamp()
        args: list[str | int | float] = [
            repr(now_ts),
            repr(EXPIRED_GRACE_S),
            rid,
            str(amount),
            limit_d,
            limit_m,
            day,
            month,
            repr(now_ts + self.reservation_ttl_s),
            self._meta_ttl_ms,
        ]
        reservation = Reservation(rid, tenant, from_nano(amount), day, month)
        try:
            result = await self._call(self._reserve, self._keys(tenant, day, month), args)
        except asyncio.CancelledError:
            # The caller gave up (client disconnected) while the script may already have run: release the
            # hold (a no-op if it never ran), so an abandoned request does not hold budget until it expires.
            # Not shielding the call itself saves a task per request; the price is a rare race (the release
            # overtaking a reserve still in Redis's input buffer) that leaves the hold to its TTL.
            self._spawn(self.release(reservation))
            raise
        status = _text(result[0])
        if status != "ok":
            window = cast(Window, status)
            limit = budget.daily_usd if window == "daily" else budget.monthly_usd
            assert limit is not None  # the script refuses only on a window that has a limit
            raise BudgetWouldBeExceeded(tenant, window, limit, from_nano(int(result[1])), from_nano(amount))
        return reservation

    async def settle(self, reservation: Reservation, actual_usd: float) -> None:
        actual = to_nano(actual_usd, what="actual_usd")
        # Relative TTLs from the wall clock, floored: settle has no injected `now`, and an EXPIREAT in the
        # past would delete the spend it just recorded (a clock-injected test, or a very late settle).
        wall = time.time()
        day_ttl, month_ttl = (
            max(math.ceil(end + WINDOW_MARGIN_S - wall), _MIN_SPEND_TTL_S)
            for end in ends_of_keys(reservation.day_key, reservation.month_key)
        )
        args: list[str | int | float] = ["0", reservation.id, str(actual), day_ttl, month_ttl]
        keys = self._keys(reservation.tenant, reservation.day_key, reservation.month_key)
        # Shielded: a settle must land even when the caller is being cancelled (a client that disconnects
        # mid-stream still cost what was generated), or the cost is lost when the hold expires.
        await asyncio.shield(self._spawn(self._call(self._settle, keys, args)))

    async def release(self, reservation: Reservation) -> None:
        await self.settle(reservation, 0.0)

    async def spend(self, tenant: str, *, now: datetime) -> SpendSnapshot:
        day, month = window_keys(now)
        args: list[str | int | float] = [repr(now.timestamp()), repr(EXPIRED_GRACE_S), day, month]
        committed_d, committed_m, held_d, held_m = (
            int(v) for v in await self._call(self._usage, self._keys(tenant, day, month), args)
        )
        return SpendSnapshot.from_nano(day, month, (committed_d, committed_m), (held_d, held_m))

    def _spawn(self, coro: Coroutine[Any, Any, _T]) -> asyncio.Task[_T]:
        """A task the ledger keeps a reference to (asyncio holds only weak ones) until it is done."""
        task = asyncio.ensure_future(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return task

    async def close(self) -> None:
        if self._pending:  # settles and releases still on their way
            await asyncio.wait(self._pending, timeout=_CLOSE_TIMEOUT_S)
        if self._owns_client:
            # aclose() is redis>=5; the types-redis 4.6 stubs only know the deprecated close().
            await self._client.aclose()  # type: ignore[attr-defined]
