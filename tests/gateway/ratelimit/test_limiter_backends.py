"""Both limiter backends (in-process, and one Lua script on a real Redis) keep the same contract."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from gateway.auth import KeyGrant, Tenant
from gateway.errors import RateLimitExceeded
from gateway.metrics import GatewayMetrics
from gateway.ratelimit.backend import Bucket, LimiterBackend, MemoryLimiter
from gateway.ratelimit.limiter import RateLimiter

T0 = 1_800_000_000.0


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
def open_backend(request: pytest.FixtureRequest) -> Callable[[], LimiterBackend]:
    if request.param == "memory":
        return MemoryLimiter
    url = request.getfixturevalue("redis_server").url
    prefix = f"test-{uuid.uuid4().hex[:12]}:rl:"

    def open_() -> LimiterBackend:
        import redis.asyncio

        from gateway.ratelimit.redis_backend import RedisLimiter

        return RedisLimiter(redis.asyncio.Redis.from_url(url), key_prefix=prefix, owns_client=True)

    return open_


def test_rpm_admits_exactly_the_limit_in_any_window(open_backend) -> None:
    async def main() -> None:
        backend = open_backend()
        bucket = [Bucket("acme", "t", 3, None)]
        try:
            results = []
            for i in range(5):  # one every 10 s
                out = await backend.admit(bucket, entry_id=f"e{i}", cost=1, now=T0 + 10 * i)
                results.append(out.refusal)
            assert results[:3] == [None, None, None]
            assert results[3] is not None and results[3].limit == "rpm"
            assert results[3].retry_after_s == pytest.approx(30.0)  # the entry at T0 leaves at T0 + 60
            # at T0 + 60 the first entry has left: one more fits
            assert (await backend.admit(bucket, entry_id="e5", cost=1, now=T0 + 60)).refusal is None
        finally:
            await backend.close()

    asyncio.run(main())


def test_tokens_are_held_at_admission_and_corrected_at_settlement(open_backend) -> None:
    async def main() -> None:
        backend = open_backend()
        bucket = [Bucket("acme", "t", None, 1000)]
        try:
            out = await backend.admit(bucket, entry_id="big", cost=900, now=T0)
            assert out.refusal is None and out.states[0].tokens == 900
            refused = await backend.admit(bucket, entry_id="x", cost=200, now=T0 + 1)
            assert refused.refusal is not None and refused.refusal.limit == "tpm"
            await backend.settle(bucket, entry_id="big", tokens=100)  # it really used 100
            ok = await backend.admit(bucket, entry_id="y", cost=200, now=T0 + 2)
            assert ok.refusal is None and ok.states[0].tokens == 300
            never = await backend.admit(bucket, entry_id="z", cost=5000, now=T0 + 3)
            assert never.refusal is not None and never.refusal.retry_after_s is None
        finally:
            await backend.close()

    asyncio.run(main())


def test_all_buckets_or_none(open_backend) -> None:
    """A key's own limit refusing leaves no trace in the tenant's bucket."""

    async def main() -> None:
        backend = open_backend()
        tenant_b, key_b = Bucket("acme", "t", 10, None), Bucket("acme", "k:key_1", 1, None)
        try:
            assert (await backend.admit([tenant_b, key_b], entry_id="a", cost=1, now=T0)).refusal is None
            out = await backend.admit([tenant_b, key_b], entry_id="b", cost=1, now=T0 + 1)
            assert out.refusal is not None and out.refused_bucket == 1
            alone = await backend.admit([tenant_b], entry_id="c", cost=1, now=T0 + 2)
            assert alone.states[0].requests == 2  # 'a' and 'c'; 'b' was recorded nowhere
        finally:
            await backend.close()

    asyncio.run(main())


def test_concurrent_admissions_never_pass_the_limit(open_backend) -> None:
    async def main() -> None:
        backend = open_backend()
        bucket = [Bucket("acme", "t", 25, None)]
        try:
            outs = await asyncio.gather(
                *(backend.admit(bucket, entry_id=f"e{i}", cost=1, now=T0 + i / 1000) for i in range(80))
            )
            assert sum(o.refusal is None for o in outs) == 25
        finally:
            await backend.close()

    asyncio.run(main())


def test_limiter_refusal_is_openai_shaped_with_retry_after_and_counted() -> None:
    async def main() -> None:
        metrics = GatewayMetrics(CollectorRegistry(), tenants={"acme"})
        clock = iter([T0, T0 + 1, T0 + 2])
        limiter = RateLimiter(MemoryLimiter(), metrics, clock=lambda: next(clock))
        tenant = Tenant("acme", rpm=2, tpm=10_000, key=KeyGrant("key_1"))
        first = await limiter.admit(tenant, tokens=100)
        assert first is not None
        assert first.headers == {
            "x-ratelimit-limit-requests": "2",
            "x-ratelimit-remaining-requests": "1",
            "x-ratelimit-reset-requests": "1m0s",
            "x-ratelimit-limit-tokens": "10000",
            "x-ratelimit-remaining-tokens": "9900",
            "x-ratelimit-reset-tokens": "1m0s",
        }
        await limiter.admit(tenant, tokens=100)
        with pytest.raises(RateLimitExceeded) as info:
            await limiter.admit(tenant, tokens=100)
        err = info.value
        assert (err.status, err.code, err.limit_type) == (429, "rate_limit_exceeded", "requests")
        assert err.headers["retry-after"] == "58" and err.headers["x-ratelimit-remaining-requests"] == "0"
        assert "x-should-retry" not in err.headers
        assert (
            metrics.registry.get_sample_value(
                "modelgate_rate_limited_total", {"tenant": "acme", "limit": "rpm"}
            )
            == 1
        )
        assert await RateLimiter(MemoryLimiter(), metrics).admit(Tenant("free"), tokens=5) is None

    asyncio.run(main())
