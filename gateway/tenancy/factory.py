"""Build the configured tenant store: SQLite next to the ledger (one host) or the ledger's Redis (a fleet).

store = create_tenant_store(settings)     # in the lifespan, or in a `modelgate tenants` command
...
await store.close()
"""

from __future__ import annotations

from typing import Any

from gateway.settings import Settings
from gateway.tenancy.store import TenantStore

__all__ = ["create_tenant_store"]


def create_tenant_store(settings: Settings) -> TenantStore:
    """The store for `budgets.backend` (the tenant store follows the ledger's backend)."""
    if settings.budgets.backend == "redis":
        import redis.asyncio

        from gateway.tenancy.redis_store import RedisTenantStore

        assert settings.budgets.redis_url is not None  # Settings refuses redis without a URL
        pool: Any = redis.asyncio.ConnectionPool.from_url(settings.budgets.redis_url, max_connections=8)
        client = redis.asyncio.Redis.from_pool(pool)  # type: ignore[attr-defined]
        return RedisTenantStore(client, owns_client=True)
    from gateway.tenancy.sqlite_store import SqliteTenantStore

    return SqliteTenantStore(settings.tenant_store_path)
