"""What every tenant store promises (SQLite and a real Redis): versions, conflicts, keys, revocation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from gateway.auth import hash_key
from gateway.settings import TenantSettings
from gateway.tenancy.config_import import import_config_tenants
from gateway.tenancy.records import (
    KeyNotFound,
    TenantExists,
    TenantNotFound,
    TenantRecord,
    issue_key,
)
from gateway.tenancy.store import TenantStore


def run(open_store: Callable[[], TenantStore], body: Callable[[TenantStore], Awaitable[None]]) -> None:
    async def main() -> None:
        store = open_store()
        try:
            await body(store)
        finally:
            await store.close()

    asyncio.run(main())


def test_every_change_bumps_the_version_and_the_snapshot_shows_it(open_store):
    async def body(store: TenantStore) -> None:
        v0 = await store.version()
        await store.create_tenant(TenantRecord("acme", daily_usd=5.0, rpm=30, created_at=1.0))
        v1 = await store.version()
        assert v1 > v0
        key, record = issue_key("acme", now=2.0, name="ci", lanes=frozenset({"llm"}), models=frozenset({"m"}))
        await store.add_key(record)
        snap = await store.snapshot()
        assert snap.version == await store.version() > v1
        assert snap.tenants["acme"] == TenantRecord("acme", daily_usd=5.0, rpm=30, created_at=1.0)
        stored = snap.keys[record.id]
        assert stored == record
        assert stored.key_sha256 == hash_key(key) and key not in repr(snap)

    run(open_store, body)


def test_duplicate_tenant_and_unknown_names_are_refused(open_store):
    async def body(store: TenantStore) -> None:
        await store.create_tenant(TenantRecord("acme"))
        with pytest.raises(TenantExists):
            await store.create_tenant(TenantRecord("acme", rpm=5))
        with pytest.raises(TenantNotFound):
            await store.update_tenant("nobody", {"rpm": 1})
        with pytest.raises(TenantNotFound):
            await store.delete_tenant("nobody")
        with pytest.raises(TenantNotFound):
            await store.add_key(issue_key("nobody", now=0)[1])
        with pytest.raises(KeyNotFound):
            await store.revoke_key("key_missing", now=0)
        assert (await store.snapshot()).tenants["acme"].rpm is None  # the refused create changed nothing

    run(open_store, body)


def test_update_sets_only_the_given_limits_and_none_clears(open_store):
    async def body(store: TenantStore) -> None:
        await store.create_tenant(TenantRecord("acme", daily_usd=5.0, rpm=30))
        updated = await store.update_tenant("acme", {"rpm": None, "tpm": 1000, "name": "evil"})
        assert (updated.name, updated.daily_usd, updated.rpm, updated.tpm) == ("acme", 5.0, None, 1000)
        assert (await store.snapshot()).tenants["acme"] == updated

    run(open_store, body)


def test_revocation_is_recorded_once_and_delete_removes_the_keys(open_store):
    async def body(store: TenantStore) -> None:
        await store.create_tenant(TenantRecord("acme"))
        await store.create_tenant(TenantRecord("globex"))
        _, k1 = issue_key("acme", now=0)
        _, k2 = issue_key("globex", now=0)
        await store.add_key(k1)
        await store.add_key(k2)
        first = await store.revoke_key(k1.id, now=100.0)
        again = await store.revoke_key(k1.id, now=200.0)
        assert first.revoked_at == again.revoked_at == 100.0
        assert (await store.snapshot()).keys[k1.id].revoked_at == 100.0
        await store.delete_tenant("acme")
        snap = await store.snapshot()
        assert set(snap.tenants) == {"globex"} and set(snap.keys) == {k2.id}

    run(open_store, body)


def test_two_store_handles_see_each_others_changes(open_store):
    """Like two replicas (or `modelgate tenants` beside a running gateway): same file, same Redis."""

    async def body(store: TenantStore) -> None:
        other = open_store()
        try:
            await store.create_tenant(TenantRecord("acme"))
            assert await other.version() == await store.version()
            assert "acme" in (await other.snapshot()).tenants
        finally:
            await other.close()

    run(open_store, body)


def test_config_import_writes_differences_only_and_keeps_a_revocation(open_store):
    async def body(store: TenantStore) -> None:
        yaml_tenants = [TenantSettings(name="acme", key_sha256="a" * 64, daily_usd=3.0, rpm=10)]
        assert await import_config_tenants(store, yaml_tenants, now=1.0) == 2
        version = await store.version()
        assert await import_config_tenants(store, yaml_tenants, now=2.0) == 0
        assert await store.version() == version  # a second replica starting changes nothing
        snap = await store.snapshot()
        assert snap.tenants["acme"].source == "config" and snap.tenants["acme"].rpm == 10
        assert snap.keys["cfg-acme"].key_sha256 == "a" * 64
        await store.revoke_key("cfg-acme", now=5.0)
        await import_config_tenants(store, yaml_tenants, now=6.0)
        assert (await store.snapshot()).keys["cfg-acme"].revoked_at == 5.0  # same hash: stays revoked
        rotated = [yaml_tenants[0].model_copy(update={"key_sha256": "b" * 64})]
        await import_config_tenants(store, rotated, now=7.0)
        key = (await store.snapshot()).keys["cfg-acme"]
        assert (key.key_sha256, key.revoked_at) == ("b" * 64, None)

    run(open_store, body)
