"""Rate-limit logs in Redis, shared by every replica: one Lua script checks and records a request.

    limiter = RedisLimiter(redis.asyncio.Redis.from_url(url), owns_client=True)

Per bucket two keys, all of one tenant under the hash tag `{<tenant>}` (one Redis Cluster slot, so one
script may touch the tenant's bucket and its keys' buckets together):

    <prefix>{T}:<bucket>:log    sorted set entry id -> admitted at (epoch seconds)
    <prefix>{T}:<bucket>:cost   hash entry id -> tokens, and `~sum` -> their total

The script is `window.check` step by step: drop entries older than the window (subtracting their tokens),
compare count + 1 with rpm and sum + cost with tpm for every bucket, then record in all or none. Keys
expire a little after the window, so idle tenants leave nothing behind. Times are the callers' clocks
(replicas' clocks should agree to well under a second; NTP does).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import redis.asyncio
from redis.exceptions import RedisError

from gateway.ratelimit.backend import AdmitOutcome, Bucket, LimiterUnavailable
from gateway.ratelimit.window import WINDOW_S, BucketState, Refusal

__all__ = ["LimiterUnavailable", "RedisLimiter"]

# KEYS: log_1, cost_1, log_2, cost_2, … ARGV: now, window, id, cost, ttl_ms, then rpm_b, tpm_b per bucket
# ('' = no limit). Returns {0, bucket, 'rpm'|'tpm', retry_after ('-1' = never)} or
# {1, count_1, sum_1, oldest_1, count_2, …}. Times travel as strings: Redis truncates Lua numbers.
_ADMIT = """
local now, win, id, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local n = #KEYS / 2
local horizon = now - win
local counts, sums = {}, {}
for b = 1, n do
  local log, costs = KEYS[2 * b - 1], KEYS[2 * b]
  local old = redis.call('ZRANGEBYSCORE', log, '-inf', horizon)
  if #old > 0 then
    local freed = 0
    for _, rid in ipairs(old) do
      freed = freed + tonumber(redis.call('HGET', costs, rid) or '0')
      redis.call('HDEL', costs, rid)
    end
    redis.call('ZREMRANGEBYSCORE', log, '-inf', horizon)
    redis.call('HINCRBY', costs, '~sum', -freed)
  end
  local count = redis.call('ZCARD', log)
  local sum = tonumber(redis.call('HGET', costs, '~sum') or '0')
  local rpm, tpm = ARGV[4 + 2 * b], ARGV[5 + 2 * b]
  if rpm ~= '' and count + 1 > tonumber(rpm) then
    local k = count - tonumber(rpm)
    local e = redis.call('ZRANGE', log, k, k, 'WITHSCORES')
    return {0, b, 'rpm', tostring(tonumber(e[2]) + win - now)}
  end
  if tpm ~= '' and sum + cost > tonumber(tpm) then
    if cost > tonumber(tpm) then return {0, b, 'tpm', '-1'} end
    local entries = redis.call('ZRANGE', log, 0, -1, 'WITHSCORES')
    local used = sum
    for i = 1, #entries, 2 do
      used = used - tonumber(redis.call('HGET', costs, entries[i]) or '0')
      if used + cost <= tonumber(tpm) then
        return {0, b, 'tpm', tostring(tonumber(entries[i + 1]) + win - now)}
      end
    end
    return {0, b, 'tpm', '0'}
  end
  counts[b], sums[b] = count, sum
end
local out = {1}
for b = 1, n do
  local log, costs = KEYS[2 * b - 1], KEYS[2 * b]
  redis.call('ZADD', log, ARGV[1], id)
  redis.call('HSET', costs, id, ARGV[4])
  redis.call('HINCRBY', costs, '~sum', ARGV[4])
  redis.call('PEXPIRE', log, ARGV[5])
  redis.call('PEXPIRE', costs, ARGV[5])
  local oldest = redis.call('ZRANGE', log, 0, 0, 'WITHSCORES')
  table.insert(out, counts[b] + 1)
  table.insert(out, sums[b] + cost)
  table.insert(out, oldest[2])
end
return out
"""
# ARGV: id, tokens.
_SETTLE = """
for b = 1, #KEYS / 2 do
  local costs = KEYS[2 * b]
  local old = redis.call('HGET', costs, ARGV[1])
  if old then
    redis.call('HSET', costs, ARGV[1], ARGV[2])
    redis.call('HINCRBY', costs, '~sum', tonumber(ARGV[2]) - tonumber(old))
  end
end
return 1
"""
_TTL_MS = math.ceil((WINDOW_S + 60) * 1000)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _limit(value: int | None) -> str:
    return "" if value is None else str(value)


class RedisLimiter:
    def __init__(
        self,
        client: redis.asyncio.Redis,  # type: ignore[type-arg]
        *,
        key_prefix: str = "modelgate:rl:",
        owns_client: bool = False,
    ) -> None:
        self.key_prefix = key_prefix
        self._client = client
        self._owns_client = owns_client
        self._admit = client.register_script(_ADMIT)
        self._settle = client.register_script(_SETTLE)

    def _keys(self, buckets: Sequence[Bucket]) -> list[str]:
        keys = []
        for b in buckets:
            base = f"{self.key_prefix}{{{b.group}}}:{b.key}"
            keys += [f"{base}:log", f"{base}:cost"]
        return keys

    async def admit(self, buckets: Sequence[Bucket], *, entry_id: str, cost: int, now: float) -> AdmitOutcome:
        args: list[str | int] = [repr(now), repr(WINDOW_S), entry_id, str(cost), _TTL_MS]
        for b in buckets:
            args += [_limit(b.rpm), _limit(b.tpm)]
        try:
            result = await self._admit(keys=self._keys(buckets), args=args)
        except RedisError as exc:
            raise LimiterUnavailable(f"rate limiter on Redis: {exc}") from exc
        if int(result[0]) == 0:
            retry = float(_text(result[3]))
            return AdmitOutcome(
                refusal=Refusal(_text(result[2]), None if retry < 0 else max(retry, 0.0)),
                refused_bucket=int(result[1]) - 1,
            )
        states = []
        for i, b in enumerate(buckets):
            count, tokens, oldest = result[1 + 3 * i : 4 + 3 * i]
            states.append(BucketState(b.rpm, b.tpm, int(count), int(tokens), float(_text(oldest))))
        return AdmitOutcome(states=states)

    async def settle(self, buckets: Sequence[Bucket], *, entry_id: str, tokens: int) -> None:
        try:
            await self._settle(keys=self._keys(buckets), args=[entry_id, str(tokens)])
        except RedisError as exc:
            raise LimiterUnavailable(f"rate limiter on Redis: {exc}") from exc

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()  # type: ignore[attr-defined]
