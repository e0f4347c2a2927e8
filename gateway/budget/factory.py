"""Build the configured spend ledger: SQLite for one machine, Redis for a fleet of replicas.

    ledger = create_ledger("sqlite", sqlite_path=data_dir / "budget.sqlite3", redis_url=None,
                           reservation_ttl_s=600)
    ...
    await ledger.close()

Call it from the app's lifespan, not at import time: the SQLite ledger opens its file and starts its thread
here. The Redis client connects lazily, on the first command; `close()` closes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from gateway.budget.ledger import SpendLedger

__all__ = ["create_ledger"]


def create_ledger(
    backend: Literal["sqlite", "redis"],
    *,
    sqlite_path: Path | None,
    redis_url: str | None,
    reservation_ttl_s: float,
    redis_key_prefix: str = "modelgate:budget:",
    redis_max_connections: int = 32,
    redis_pool_timeout_s: float = 5.0,
    redis_socket_timeout_s: float = 2.0,
) -> SpendLedger:
    """A ready ledger for `backend`; ValueError names the missing or bad setting."""
    if backend == "sqlite":
        if sqlite_path is None:
            raise ValueError("the sqlite budget ledger needs a path (budgets.sqlite_path)")
        from gateway.budget.sqlite_store import SqliteLedger

        return SqliteLedger(sqlite_path, reservation_ttl_s=reservation_ttl_s)
    if backend == "redis":
        if not redis_url:
            raise ValueError("the redis budget ledger needs a URL (budgets.redis_url)")
        # Imported here so a SQLite-only deployment never imports redis.
        import redis.asyncio

        # A blocking pool: under a burst, requests queue for one of `redis_max_connections` connections
        # (each script takes ~0.1 ms) instead of failing with "Too many connections" as the default pool
        # does past its limit. Waiting longer than `redis_pool_timeout_s` raises LedgerUnavailable.
        # Socket timeouts bound every command: a paused or wedged Redis becomes LedgerUnavailable within
        # them (a reserve fails closed; a settle is journaled) instead of holding the request forever.
        pool: Any = redis.asyncio.BlockingConnectionPool.from_url(
            redis_url,
            max_connections=redis_max_connections,
            timeout=redis_pool_timeout_s,
            socket_timeout=redis_socket_timeout_s,
            socket_connect_timeout=redis_socket_timeout_s,
        )
        # from_pool is redis>=5 (the client owns the pool and closes it); types-redis 4.6 lacks it.
        client = redis.asyncio.Redis.from_pool(pool)  # type: ignore[attr-defined]
        from gateway.budget.redis_store import RedisLedger

        return RedisLedger(
            client, key_prefix=redis_key_prefix, reservation_ttl_s=reservation_ttl_s, owns_client=True
        )
    raise ValueError(f"unknown budget ledger backend {backend!r}; expected 'sqlite' or 'redis'")
