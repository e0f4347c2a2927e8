"""The settlement journal: a ledger that cannot take a settlement never loses it.

The ledger is the real SQLite one; `Flaky` only decides whether a call reaches it (the ledger being
"away"), the way Redis being paused or the file being locked looks to the caller.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.budget.journal import JournaledSettler
from gateway.budget.ledger import Budget, LedgerUnavailable, Reservation, SpendLedger
from gateway.budget.sqlite_store import SqliteLedger

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BUDGET = Budget(daily_usd=10.0, monthly_usd=None)


class Flaky:
    """Passes calls to a real ledger, or fails them like an unreachable store while `away`."""

    def __init__(self, ledger: SpendLedger, error: Exception | None = None) -> None:
        self.ledger = ledger
        self.away = False
        self.error = error or LedgerUnavailable("spend ledger on Redis: Connection refused")

    async def settle(self, reservation: Reservation, actual_usd: float) -> None:
        if self.away:
            raise self.error
        await self.ledger.settle(reservation, actual_usd)


async def _committed(ledger: SpendLedger) -> float:
    return (await ledger.spend("acme", now=NOW)).day_committed_usd


def _settler(flaky: Flaky, journal: Path, seen: list[int]) -> JournaledSettler:
    return JournaledSettler(
        flaky,  # type: ignore[arg-type]
        journal,
        on_pending=seen.append,
        attempt_timeout_s=0.5,
        retry_s=0.05,
        max_retry_s=0.2,
    )


async def _until(predicate: object, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def test_a_failed_settlement_is_journaled_then_lands_when_the_ledger_returns(tmp_path: Path) -> None:
    async def scenario() -> None:
        ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
        flaky = Flaky(ledger)
        seen: list[int] = []
        async with AsyncExitStack() as stack:
            settler = _settler(flaky, tmp_path / "journal", seen)
            await settler.start(stack)
            res = await ledger.reserve("acme", 2.0, BUDGET, now=NOW)
            flaky.away = True
            await settler.settle(res, 1.25)
            files = list((tmp_path / "journal").glob("*.settle.json"))
            assert len(files) == 1 and json.loads(files[0].read_text())["actual_usd"] == 1.25
            assert settler.pending == 1 and seen[-1] == 1
            await asyncio.sleep(0.3)  # several retries while the ledger is still away
            assert settler.pending == 1 and await _committed(ledger) == 0.0
            flaky.away = False
            await _until(lambda: settler.pending == 0)
            assert await _committed(ledger) == pytest.approx(1.25)
            assert list((tmp_path / "journal").glob("*.settle.json")) == [] and seen[-1] == 0
        await ledger.close()

    asyncio.run(scenario())


def test_a_journal_left_by_a_crashed_run_is_replayed_at_start(tmp_path: Path) -> None:
    async def scenario() -> None:
        ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
        flaky = Flaky(ledger)
        flaky.away = True
        res = await ledger.reserve("acme", 3.0, BUDGET, now=NOW)
        async with AsyncExitStack() as stack:
            first = _settler(flaky, tmp_path / "journal", [])
            await first.start(stack)
            await first.settle(res, 2.5)
            # the process "dies" here: the stack's last replay fails too, the file stays
        assert len(list((tmp_path / "journal").glob("*.settle.json"))) == 1
        (tmp_path / "journal" / ".crashed.settle.json.tmp").write_text("{half")  # a torn write
        flaky.away = False
        seen: list[int] = []
        async with AsyncExitStack() as stack:
            second = _settler(flaky, tmp_path / "journal", seen)
            await second.start(stack)
            assert seen[0] == 1  # the gauge shows the inherited settlement at once
            await _until(lambda: second.pending == 0)
        assert await _committed(ledger) == pytest.approx(2.5)
        assert list((tmp_path / "journal").iterdir()) == []
        await ledger.close()

    asyncio.run(scenario())


def test_replaying_a_settlement_that_already_landed_does_not_bill_twice(tmp_path: Path) -> None:
    async def scenario() -> None:
        ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
        res = await ledger.reserve("acme", 3.0, BUDGET, now=NOW)
        await ledger.settle(res, 1.0)  # landed, but the process died before removing the journal file
        journal = tmp_path / "journal"
        journal.mkdir()
        record = {
            "id": res.id,
            "tenant": res.tenant,
            "amount_usd": res.amount_usd,
            "day_key": res.day_key,
            "month_key": res.month_key,
            "actual_usd": 1.0,
        }
        (journal / "x.settle.json").write_text(json.dumps(record))
        async with AsyncExitStack() as stack:
            settler = _settler(Flaky(ledger), journal, [])
            await settler.start(stack)
            await _until(lambda: settler.pending == 0)
        assert await _committed(ledger) == pytest.approx(1.0)
        await ledger.close()

    asyncio.run(scenario())


def test_a_locked_sqlite_ledger_delays_the_settlement_but_does_not_lose_it(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"

    async def scenario() -> None:
        ledger = SqliteLedger(path, busy_timeout_s=0.2)
        res = await ledger.reserve("acme", 2.0, BUDGET, now=NOW)
        locked, release = threading.Event(), threading.Event()

        def hold_the_write_lock() -> None:
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("BEGIN EXCLUSIVE")
            locked.set()
            release.wait(10)
            conn.execute("COMMIT")
            conn.close()

        holder = threading.Thread(target=hold_the_write_lock)
        holder.start()
        assert locked.wait(5)
        async with AsyncExitStack() as stack:
            settler = JournaledSettler(ledger, tmp_path / "journal", attempt_timeout_s=1.0, retry_s=0.05)
            await settler.start(stack)
            await settler.settle(res, 0.75)
            assert settler.pending == 1  # SQLite said "database is locked"
            release.set()
            await _until(lambda: settler.pending == 0)
        holder.join(5)
        assert await _committed(ledger) == pytest.approx(0.75)
        await ledger.close()

    asyncio.run(scenario())


def test_a_journal_that_cannot_be_written_keeps_the_settlement_in_memory(tmp_path: Path) -> None:
    """The disk is full for the ledger and the journal alike (here: the journal path is a file)."""

    async def scenario() -> None:
        ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
        flaky = Flaky(ledger, OSError(28, "No space left on device"))
        flaky.away = True
        journal = tmp_path / "journal"
        journal.write_text("not a folder")
        res = await ledger.reserve("acme", 2.0, BUDGET, now=NOW)
        async with AsyncExitStack() as stack:
            settler = _settler(flaky, journal, [])
            await settler.start(stack)
            await settler.settle(res, 0.5)
            assert settler.pending == 1
            flaky.away = False
            await _until(lambda: settler.pending == 0)
        assert await _committed(ledger) == pytest.approx(0.5)
        await ledger.close()

    asyncio.run(scenario())
