"""Open either tenant store: SQLite, or the session's real `redis-server` under a unique key prefix."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.tenancy.store import TenantStore

StoreFactory = Callable[[], TenantStore]


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.integration)])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Every store it opens shares one SQLite file or Redis prefix. Call it inside the event loop."""
    backend = request.param
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    url = request.getfixturevalue("redis_server").url if backend == "redis" else None

    def open_() -> TenantStore:
        if backend == "sqlite":
            from gateway.tenancy.sqlite_store import SqliteTenantStore

            return SqliteTenantStore(tmp_path / "tenants.sqlite")
        import redis.asyncio

        from gateway.tenancy.redis_store import RedisTenantStore

        assert url is not None
        return RedisTenantStore(redis.asyncio.Redis.from_url(url), key_prefix=prefix, owns_client=True)

    return open_
