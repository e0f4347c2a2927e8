"""What is particular to each store: SQLite's file settings, Redis keys that expire, unreachable stores."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio

from gateway.budget import sqlite_store
from gateway.budget.factory import create_ledger
from gateway.budget.ledger import EXPIRED_GRACE_S, Budget, BudgetWouldBeExceeded, LedgerUnavailable
from gateway.budget.redis_store import WINDOW_MARGIN_S, RedisLedger
from gateway.budget.sqlite_store import PURGE_EVERY_S, SqliteLedger

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


# The schema as the ledger wrote it before reserve and settle became one statement each (no view, no trigger).
_OLD_SCHEMA = """
CREATE TABLE spend (tenant TEXT NOT NULL, period TEXT NOT NULL, committed INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (tenant, period)) WITHOUT ROWID;
CREATE TABLE reservations (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, day_key TEXT NOT NULL,
                           month_key TEXT NOT NULL, amount INTEGER NOT NULL,
                           expires_at REAL NOT NULL) WITHOUT ROWID;
CREATE INDEX reservations_by_tenant ON reservations (tenant, expires_at);
"""


def test_sqlite_file_from_the_older_schema_keeps_its_spend_and_settles_through_the_trigger(tmp_path):
    path = tmp_path / "budget.sqlite3"
    now = datetime.now(UTC)
    day, month = now.strftime("%Y-%m-%d"), now.strftime("%Y-%m")
    with sqlite3.connect(path) as conn:
        conn.executescript(_OLD_SCHEMA)
        nine_usd = 9_000_000_000  # nano-USD
        conn.execute("INSERT INTO spend VALUES ('acme', ?1, ?3), ('acme', ?2, ?3)", (day, month, nine_usd))

    async def main() -> None:
        ledger = SqliteLedger(path)
        try:
            held = await ledger.reserve("acme", 0.5, BUDGET, now=now)
            await ledger.settle(held, 0.25)
            await ledger.settle(held, 0.25)  # a second settle of the same hold records nothing
            with pytest.raises(BudgetWouldBeExceeded) as refused:  # $9.25 spent of $10: $1 does not fit
                await ledger.reserve("acme", 1.0, BUDGET, now=now)
            assert refused.value.window == "daily"
            assert (await ledger.spend("acme", now=now)).day_committed_usd == pytest.approx(9.25)
        finally:
            await ledger.close()

    asyncio.run(main())


def test_sqlite_expired_holds_never_count_and_are_purged_after_their_grace(tmp_path):
    path = tmp_path / "budget.sqlite3"
    t0 = datetime.now(UTC).replace(hour=12)

    async def main() -> None:
        ledger = SqliteLedger(path, reservation_ttl_s=1.0)
        try:
            await ledger.reserve("acme", 9.0, BUDGET, now=t0)  # never settled: a crashed request
            # Expired but not yet purged, it no longer counts: the whole budget is free again.
            later = t0 + timedelta(seconds=2)
            await ledger.settle(await ledger.reserve("acme", 9.5, BUDGET, now=later), 0.0)
            with sqlite3.connect(path) as conn:
                assert conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0] == 1
            much_later = later + timedelta(seconds=EXPIRED_GRACE_S + PURGE_EVERY_S)
            await ledger.settle(await ledger.reserve("acme", 0.1, BUDGET, now=much_later), 0.0)
            with sqlite3.connect(path) as conn:
                assert conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0] == 0
        finally:
            await ledger.close()

    asyncio.run(main())


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


def test_sqlite_statement_that_finds_the_lock_taken_waits_on_the_thread_not_on_the_loop(tmp_path):
    path = tmp_path / "budget.sqlite3"

    async def main() -> None:
        ledger = SqliteLedger(path)
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            other.execute("BEGIN IMMEDIATE")  # another gateway process holding the write lock
            reserving = asyncio.create_task(ledger.reserve("acme", 0.5, BUDGET, now=datetime.now(UTC)))
            ticks = 0
            for _ in range(20):  # the loop keeps serving other work while the reserve waits
                await asyncio.sleep(0.01)
                ticks += 1
            assert not reserving.done()
            other.execute("COMMIT")
            held = await asyncio.wait_for(reserving, timeout=10)
            assert (ticks, ledger.lock_waits) == (20, 1)
            await ledger.settle(held, 0.25)
            assert (await ledger.spend("acme", now=datetime.now(UTC))).day_committed_usd == 0.25
        finally:
            other.close()
            await ledger.close()

    asyncio.run(main())


def test_sqlite_write_ahead_log_stays_bounded_under_steady_writes(tmp_path, monkeypatch):
    # The loop's connection never checkpoints; the thread's periodic checkpoints let the log start over.
    # Compared in one run with the same writes and checkpoints off: ~80 MB for 8,000 writes, against ~5 MB
    # with them. A thread that lags a whole interval holds the loop's statements behind its checkpoint, so
    # the log stays within about two intervals (~8 MB) under any load: 55 MB was seen on a loaded machine
    # before it did.
    async def wal_size_after_writes(path: Path) -> int:
        ledger = SqliteLedger(path)
        try:
            now = datetime.now(UTC)
            for _ in range(4000):
                await ledger.settle(await ledger.reserve("acme", 0.001, BUDGET, now=now), 0.0005)
            # (measured before close: the last connection to close checkpoints and removes the log)
            return (path.parent / (path.name + "-wal")).stat().st_size
        finally:
            await ledger.close()

    with_checkpoints = asyncio.run(wal_size_after_writes(tmp_path / "a.sqlite3"))
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_EVERY", 10**9)
    without = asyncio.run(wal_size_after_writes(tmp_path / "b.sqlite3"))
    assert without > 60 * 2**20  # the writes really would grow the log
    assert with_checkpoints < without / 4


def test_sqlite_statements_wait_for_a_checkpoint_a_whole_interval_behind(tmp_path, monkeypatch):
    # The ledger thread starved (here: its checkpoint held at a gate): after one more interval of writes
    # on the loop, the next statement waits on the thread behind the checkpoint instead of growing the
    # WAL; once the checkpoint has run, statements are back on the loop.
    gate = threading.Event()
    real_checkpoint = sqlite_store._checkpoint

    def gated_checkpoint(conn: sqlite3.Connection) -> None:
        assert gate.wait(10)
        real_checkpoint(conn)

    monkeypatch.setattr(sqlite_store, "_checkpoint", gated_checkpoint)

    async def main() -> None:
        ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
        try:
            now = datetime.now(UTC)
            for _ in range(sqlite_store.CHECKPOINT_EVERY):  # two writes each: two intervals
                await ledger.settle(await ledger.reserve("acme", 0.001, BUDGET, now=now), 0.0005)
            assert ledger.checkpoint_waits == 0
            waiting = asyncio.ensure_future(ledger.reserve("acme", 0.001, BUDGET, now=now))
            for _ in range(20):
                await asyncio.sleep(0)
            assert not waiting.done()
            assert ledger.checkpoint_waits == 1
            gate.set()
            held = await asyncio.wait_for(waiting, 10)
            await ledger.settle(held, 0.0005)
            spent = await ledger.spend("acme", now=now)
            assert ledger.checkpoint_waits == 1  # the checkpoint done, the settle ran on the loop
            assert spent.day_committed_usd == pytest.approx(0.0005 * (sqlite_store.CHECKPOINT_EVERY + 1))
            assert spent.day_reserved_usd == 0
        finally:
            gate.set()
            await ledger.close()

    asyncio.run(main())
