"""What is particular to each store: SQLite's file settings, Redis keys that expire, unreachable stores."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio

from gateway.budget.factory import create_ledger
from gateway.budget.ledger import Budget, LedgerUnavailable
from gateway.budget.redis_store import WINDOW_MARGIN_S, RedisLedger
from gateway.budget.sqlite_store import SqliteLedger

BUDGET = Budget(daily_usd=10.0, monthly_usd=100.0)


def test_sqlite_file_is_in_wal_mode_and_settled_requests_leave_no_rows(tmp_path):
    path = tmp_path / "nested" / "budget.sqlite3"  # parent folders are created

    async def main() -> None:
        ledger = SqliteLedger(path)
        try:
            now = datetime.now(UTC)
            for _ in range(5):
                await ledger.settle(await ledger.reserve("acme", 0.1, BUDGET, now=now), 0.05)
        finally:
            await ledger.close()

    asyncio.run(main())
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0] == 0
        rows = dict(conn.execute("SELECT period, committed FROM spend WHERE tenant = 'acme'").fetchall())
    assert sorted(rows.values()) == [250_000_000, 250_000_000]  # 5 x $0.05 in nano-USD, day and month


def test_sqlite_that_cannot_open_its_file_raises_ledger_unavailable(tmp_path):
    (tmp_path / "budget.sqlite3").mkdir()  # a directory where the file should be
    with pytest.raises(LedgerUnavailable, match=r"budget\.sqlite3"):
        SqliteLedger(tmp_path / "budget.sqlite3")


def test_a_closed_ledger_refuses_calls(tmp_path):
    async def main() -> None:
        ledger = SqliteLedger(tmp_path / "b.sqlite3")
        await ledger.close()
        await ledger.close()  # idempotent
        with pytest.raises(LedgerUnavailable, match="closed"):
            await ledger.reserve("acme", 0.1, BUDGET, now=datetime.now(UTC))

    asyncio.run(main())


@pytest.mark.integration
def test_redis_keys_all_expire_and_settled_requests_leave_no_holds(redis_server):
    prefix = f"test-keys-{uuid.uuid4().hex[:8]}:"

    async def main() -> None:
        client = redis.asyncio.Redis.from_url(redis_server.url)
        ledger = RedisLedger(client, key_prefix=prefix, reservation_ttl_s=600)
        try:
            now = datetime.now(UTC)
            for _ in range(3):
                await ledger.settle(await ledger.reserve("acme", 0.1, BUDGET, now=now), 0.05)
            keys = sorted([k.decode() async for k in client.scan_iter(match=f"{prefix}*")])
            ttls = {k: await client.ttl(k) for k in keys}
            # nothing lives forever: the tenant's window keys and reservation bookkeeping all expire
            assert all(ttl > 0 for ttl in ttls.values()), ttls
            day = f"{prefix}{{acme}}:spend:{now:%Y-%m-%d}"
            assert await client.get(day) == b"150000000"
            next_midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
            expected_ttl = (next_midnight - now).total_seconds() + WINDOW_MARGIN_S
            assert abs(ttls[day] - expected_ttl) < 60
            assert await client.hlen(f"{prefix}{{acme}}:held") == 0  # no zero-valued fields pile up
            assert await client.hlen(f"{prefix}{{acme}}:resv") == 0
        finally:
            await client.aclose()  # type: ignore[attr-defined]  # types-redis 4.6 predates aclose

    asyncio.run(main())


def test_unreachable_redis_raises_ledger_unavailable():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def main() -> None:
        ledger = create_ledger(
            "redis", sqlite_path=None, redis_url=f"redis://127.0.0.1:{port}/0", reservation_ttl_s=600
        )
        try:
            with pytest.raises(LedgerUnavailable, match="Redis"):
                await ledger.reserve("acme", 0.1, BUDGET, now=datetime.now(UTC))
        finally:
            await ledger.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backend": "sqlite", "sqlite_path": None, "redis_url": None}, "path"),
        ({"backend": "redis", "sqlite_path": None, "redis_url": None}, "URL"),
        ({"backend": "memcached", "sqlite_path": None, "redis_url": None}, "unknown"),
    ],
)
def test_factory_names_the_missing_setting(kwargs, message):
    with pytest.raises(ValueError, match=message):
        create_ledger(reservation_ttl_s=600, **kwargs)
