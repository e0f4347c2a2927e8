"""Per-tenant and per-key rate limits for the LLM lane: admit, settle, and OpenAI's response headers.

    limiter = RateLimiter(MemoryLimiter(), metrics)
    ticket = await limiter.admit(tenant, tokens=worst_case)   # raises RateLimitExceeded (429)
    response.headers.update(ticket.headers)                   # x-ratelimit-* for limited tenants
    await limiter.settle(ticket, tokens=actual)               # the tpm log holds what was really used

A tenant with neither rpm nor tpm (and a key without its own) costs nothing here: `admit` returns None
without touching the backend.

Refusals are 429 `rate_limit_exceeded` with `Retry-After` (whole seconds) and `retry-after-ms`. The
official SDK retries 429 twice and honours those headers when they are at most 60 s, which a 60 s window
always is — so retrying is right and `x-should-retry` is not sent; except for a request that alone needs
more than the tpm limit, which can never succeed: it gets `x-should-retry: false`.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.auth import Tenant
from gateway.errors import RateLimitExceeded, ServiceNotReady
from gateway.metrics import GatewayMetrics
from gateway.random_ids import RandomIds
from gateway.ratelimit.backend import Bucket, LimiterBackend, LimiterUnavailable
from gateway.ratelimit.window import BucketState, Refusal, format_reset, reset_after

__all__ = ["RateLimiter", "Ticket", "buckets_for", "create_rate_limiter", "rate_limit_headers"]


@dataclass(frozen=True, slots=True)
class Ticket:
    buckets: list[Bucket]
    entry_id: str
    tokens: int
    headers: dict[str, str] = field(default_factory=dict)


def buckets_for(tenant: Tenant) -> list[Bucket]:
    """The tenant's own bucket and, when its key has limits of its own, the key's."""
    buckets = []
    if tenant.rpm is not None or tenant.tpm is not None:
        buckets.append(Bucket(tenant.name, "t", tenant.rpm, tenant.tpm))
    grant = tenant.key
    if grant is not None and (grant.rpm is not None or grant.tpm is not None):
        buckets.append(Bucket(tenant.name, f"k:{grant.id}", grant.rpm, grant.tpm))
    return buckets


def rate_limit_headers(states: list[BucketState], now: float) -> dict[str, str]:
    """OpenAI's `x-ratelimit-*` trio per kind, from the tightest bucket of that kind."""
    headers: dict[str, str] = {}
    req = [(s.rpm - s.requests, s.rpm, s) for s in states if s.rpm is not None]
    if req:
        remaining, limit, s = min(req, key=lambda r: r[0])
        headers["x-ratelimit-limit-requests"] = str(limit)
        headers["x-ratelimit-remaining-requests"] = str(max(remaining, 0))
        headers["x-ratelimit-reset-requests"] = format_reset(reset_after(s.oldest_at, now))
    tok = [(s.tpm - s.tokens, s.tpm, s) for s in states if s.tpm is not None]
    if tok:
        remaining, limit, s = min(tok, key=lambda r: r[0])
        headers["x-ratelimit-limit-tokens"] = str(limit)
        headers["x-ratelimit-remaining-tokens"] = str(max(remaining, 0))
        headers["x-ratelimit-reset-tokens"] = format_reset(reset_after(s.oldest_at, now))
    return headers


def _refusal_error(tenant: Tenant, bucket: Bucket, refusal: Refusal, cost: int) -> RateLimitExceeded:
    kind = "requests" if refusal.limit == "rpm" else "tokens"
    limit = bucket.rpm if refusal.limit == "rpm" else bucket.tpm
    whose = "tenant" if bucket.key == "t" else "API key"
    headers = {f"x-ratelimit-limit-{kind}": str(limit), f"x-ratelimit-remaining-{kind}": "0"}
    if refusal.retry_after_s is None:
        headers["x-should-retry"] = "false"
        message = (
            f"this request may use up to {cost} tokens, more than the {whose}'s limit of {limit} tokens "
            "per minute; lower max_tokens"
        )
        return RateLimitExceeded(message, limit_type=kind, headers=headers)
    wait = refusal.retry_after_s
    headers["retry-after"] = str(max(math.ceil(wait), 1))
    headers["retry-after-ms"] = str(max(math.ceil(wait * 1000), 1))
    headers[f"x-ratelimit-reset-{kind}"] = format_reset(wait)
    message = (
        f"rate limit reached for tenant {tenant.name!r}: {whose} limit of {limit} "
        f"{kind} per minute; try again in {wait:.1f} s"
    )
    return RateLimitExceeded(message, limit_type=kind, headers=headers)


class RateLimiter:
    def __init__(
        self, backend: LimiterBackend, metrics: GatewayMetrics, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.backend = backend
        self.metrics = metrics
        self.clock = clock
        self._new_id = RandomIds(id_bytes=8)

    async def admit(self, tenant: Tenant, *, tokens: int) -> Ticket | None:
        """Record the request (holding `tokens`) or raise RateLimitExceeded; None when nothing limits it."""
        buckets = buckets_for(tenant)
        if not buckets:
            return None
        now = self.clock()
        entry_id = self._new_id()
        try:
            outcome = await self.backend.admit(buckets, entry_id=entry_id, cost=tokens, now=now)
        except LimiterUnavailable as exc:
            raise ServiceNotReady(f"rate limiter unavailable: {exc}") from None
        if outcome.refusal is not None:
            bucket = buckets[outcome.refused_bucket]
            label = bucket.limit_prefix + outcome.refusal.limit
            self.metrics.rate_limited.labels(self.metrics.tenant_label(tenant.name), label).inc()
            raise _refusal_error(tenant, bucket, outcome.refusal, tokens)
        return Ticket(buckets, entry_id, tokens, rate_limit_headers(outcome.states, now))

    async def settle(self, ticket: Ticket, *, tokens: int) -> None:
        """Replace the held worst case by the tokens really used (only tpm cares)."""
        if tokens == ticket.tokens or all(b.tpm is None for b in ticket.buckets):
            return
        # Redis down: the worst case stays held until it leaves the window, which errs on the safe side.
        with contextlib.suppress(LimiterUnavailable):
            await self.backend.settle(ticket.buckets, entry_id=ticket.entry_id, tokens=tokens)

    async def close(self) -> None:
        await self.backend.close()


def create_rate_limiter(backend: str, redis_url: str | None, metrics: GatewayMetrics) -> RateLimiter:
    """Redis when the budget ledger is on Redis (a fleet), else in this process's memory."""
    if backend == "redis" and redis_url:
        import redis.asyncio

        from gateway.ratelimit.redis_backend import RedisLimiter

        client = redis.asyncio.Redis.from_url(redis_url)
        return RateLimiter(RedisLimiter(client, owns_client=True), metrics)
    from gateway.ratelimit.backend import MemoryLimiter

    return RateLimiter(MemoryLimiter(), metrics)
