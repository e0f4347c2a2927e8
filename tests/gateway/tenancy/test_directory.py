"""The in-memory key directory: lookups, reasons, scopes, reload on a version change (no server)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.errors import AuthenticationFailed, LaneNotAllowed, ModelNotAllowed
from gateway.metrics import GatewayMetrics
from gateway.tenancy.directory import LiveDirectory, lane_of_path
from gateway.tenancy.records import TenantRecord, issue_key
from gateway.tenancy.sqlite_store import SqliteTenantStore


def _reason(metrics: GatewayMetrics, reason: str) -> float:
    value = metrics.registry.get_sample_value("modelgate_auth_failures_total", {"reason": reason})
    return value or 0.0


def test_lanes_by_path() -> None:
    assert lane_of_path("/v1/churn/predict") == "churn"
    assert lane_of_path("/v1/chat/completions") == "llm"
    assert lane_of_path("/v1/budget") == "llm"


def test_authenticate_scopes_expiry_revocation_and_reload(tmp_path: Path) -> None:
    async def main() -> None:
        metrics = GatewayMetrics(CollectorRegistry())
        now = [1000.0]
        store = SqliteTenantStore(tmp_path / "t.sqlite")
        directory = LiveDirectory(store, metrics, dev_key="mg-dev-key-0123456789", clock=lambda: now[0])
        try:
            await store.create_tenant(TenantRecord("acme", daily_usd=2.0, rpm=5, max_concurrency=3))
            plain, key = issue_key(
                "acme", now=now[0], lanes=frozenset({"llm"}), models=frozenset({"m1"}), expires_at=2000.0
            )
            await store.add_key(key)
            assert await directory.refresh() is True
            assert await directory.refresh() is False  # nothing changed: no reload
            tenant = directory.authenticate(f"Bearer {plain}", lane="llm")
            assert (tenant.name, tenant.daily_usd, tenant.rpm, tenant.max_concurrency) == ("acme", 2.0, 5, 3)
            assert tenant.key is not None and tenant.key.id == key.id
            assert set(directory.tenants) == {"acme", "dev"}
            assert directory.authenticate("Bearer mg-dev-key-0123456789").name == "dev"

            with pytest.raises(LaneNotAllowed):
                directory.authenticate(f"Bearer {plain}", lane="churn")
            directory.check_model(tenant, "m1")
            with pytest.raises(ModelNotAllowed) as denied:
                directory.check_model(tenant, "m2")
            assert denied.value.param == "model"
            for header, reason in ((None, "missing"), ("Basic x", "malformed"), ("Bearer nope", "unknown")):
                with pytest.raises(AuthenticationFailed):
                    directory.authenticate(header)
                assert _reason(metrics, reason) == 1

            now[0] = 2000.0  # the expiry itself is the first refused moment
            with pytest.raises(AuthenticationFailed, match="expired"):
                directory.authenticate(f"Bearer {plain}")
            now[0] = 1500.0
            await store.revoke_key(key.id, now=now[0])
            directory.authenticate(f"Bearer {plain}")  # not reloaded yet: the old snapshot holds
            await directory.refresh()
            with pytest.raises(AuthenticationFailed, match="revoked"):
                directory.authenticate(f"Bearer {plain}")
            assert (_reason(metrics, "expired"), _reason(metrics, "revoked")) == (1, 1)
            assert not directory.known(f"Bearer {plain}")
        finally:
            await store.close()

    asyncio.run(main())


def test_an_unreachable_store_at_start_up_serves_the_yaml_tenants_then_catches_up(tmp_path: Path) -> None:
    from contextlib import AsyncExitStack

    from gateway.auth import hash_key
    from gateway.settings import TenantSettings
    from gateway.tenancy.config_import import config_snapshot, import_config_tenants
    from gateway.tenancy.records import StoreUnavailable

    class Flaky(SqliteTenantStore):
        """The real SQLite store, unreachable until `up` is set (as Redis would be)."""

        up = False

        async def version(self) -> int:
            if not self.up:
                raise StoreUnavailable("down")
            return await super().version()

        async def snapshot(self):  # type: ignore[no-untyped-def]
            if not self.up:
                raise StoreUnavailable("down")
            return await super().snapshot()

    async def main() -> None:
        yaml_tenants = [TenantSettings(name="acme", key_sha256=hash_key("mg-acme-0123456789"))]
        store = Flaky(tmp_path / "t.sqlite")
        directory = LiveDirectory(store, GatewayMetrics(CollectorRegistry()), refresh_interval_s=0.01)
        async with AsyncExitStack() as stack:
            await directory.start(
                stack,
                setup=lambda: import_config_tenants(store, yaml_tenants, now=0.0),
                fallback=config_snapshot(yaml_tenants, now=0.0),
            )
            assert directory.authenticate("Bearer mg-acme-0123456789").name == "acme"
            await store.create_tenant(TenantRecord("globex"))  # written while "down" for the readers
            store.up = True
            for _ in range(200):  # bounded: 2 s at most
                if "globex" in directory.tenants:
                    break
                await asyncio.sleep(0.01)
            assert set(directory.tenants) == {"acme", "globex"}
            assert (await store.snapshot()).keys["cfg-acme"].tenant == "acme"  # the import ran once up
        await store.close()

    asyncio.run(main())
