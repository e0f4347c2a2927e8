"""The per-replica concurrency cap: the shared `llm.max_concurrent_per_tenant`, or a tenant's own."""

from __future__ import annotations

from gateway.llm.admission import TenantConcurrency


def test_a_tenants_own_cap_overrides_the_shared_one() -> None:
    slots = TenantConcurrency(limit=2)
    assert slots.try_acquire("acme") and slots.try_acquire("acme")
    assert not slots.try_acquire("acme")
    assert slots.try_acquire("acme", 3) and not slots.try_acquire("acme", 3)
    assert slots.try_acquire("globex", 1) and not slots.try_acquire("globex", 1)
    slots.release("acme")
    assert slots.in_flight("acme") == 2 and not slots.try_acquire("acme")  # 2 of the shared 2
