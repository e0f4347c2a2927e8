"""The SQLite ledger's group commit: a turn's first write runs at once, the later writes of the same turn
of the event loop share one transaction, each gets its own answer after the commit, and cancellation and
failures keep the money right."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.budget.ledger import Budget, BudgetWouldBeExceeded, LedgerUnavailable, Reservation
from gateway.budget.sqlite_store import SqliteLedger

BUDGET = Budget(daily_usd=10.0, monthly_usd=100.0)
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _run(path: Path, body: Callable[[SqliteLedger], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        ledger = SqliteLedger(path)
        try:
            return await body(ledger)
        finally:
            await ledger.close()

    return asyncio.run(main())


def _rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def _transactions(ledger: SqliteLedger) -> list[str]:
    statements: list[str] = []
    ledger._loop_conn.set_trace_callback(statements.append)
    return statements


def test_writes_of_one_turn_share_one_transaction_and_each_gets_its_answer(tmp_path: Path) -> None:
    async def body(ledger: SqliteLedger) -> tuple[list[Reservation], list[str]]:
        trace = _transactions(ledger)
        held = await asyncio.gather(*(ledger.reserve("acme", 0.25, BUDGET, now=NOW) for _ in range(8)))
        await asyncio.gather(*(ledger.settle(r, 0.125) for r in held))
        return list(held), [s for s in trace if s in ("BEGIN IMMEDIATE", "COMMIT")]

    held, transactions = _run(tmp_path / "l.sqlite3", body)
    assert len({r.id for r in held}) == 8
    # Each turn: the first write alone (its implicit transaction), the other seven in one commit.
    assert transactions == ["BEGIN IMMEDIATE", "COMMIT"] * 2  # eight reserves, then eight settles
    assert _rows(tmp_path / "l.sqlite3", "SELECT period, committed FROM spend ORDER BY period") == [
        ("2026-12", 8 * 125_000_000),
        ("2026-12-03", 8 * 125_000_000),
    ]
    assert _rows(tmp_path / "l.sqlite3", "SELECT COUNT(*) FROM reservations") == [(0,)]


def test_the_limit_is_checked_statement_by_statement_inside_a_batch(tmp_path: Path) -> None:
    # Eight reserves of 0.3 against a 1.00 day, in one transaction: each sees the holds before it.
    async def body(ledger: SqliteLedger) -> list[object]:
        tight = Budget(daily_usd=1.0, monthly_usd=None)
        return list(
            await asyncio.gather(
                *(ledger.reserve("acme", 0.3, tight, now=NOW) for _ in range(8)), return_exceptions=True
            )
        )

    answers = _run(tmp_path / "l.sqlite3", body)
    assert [type(a) for a in answers] == [Reservation] * 3 + [BudgetWouldBeExceeded] * 5
    assert _rows(tmp_path / "l.sqlite3", "SELECT SUM(amount) FROM reservations") == [(900_000_000,)]


def test_a_lone_write_runs_at_once_without_waiting_for_the_turn(tmp_path: Path) -> None:
    async def body(ledger: SqliteLedger) -> tuple[bool, list[str]]:
        trace = _transactions(ledger)
        task = asyncio.create_task(ledger.reserve("acme", 0.5, BUDGET, now=NOW))
        await asyncio.sleep(0)  # one step of the task: nothing else ran since
        return task.done(), trace

    done, trace = _run(tmp_path / "l.sqlite3", body)
    assert done
    assert [s for s in trace if "INSERT INTO reservations" in s] and "BEGIN IMMEDIATE" not in trace


def test_a_reserve_cancelled_before_its_batch_runs_holds_nothing(tmp_path: Path) -> None:
    async def body(ledger: SqliteLedger) -> tuple[float, list[str]]:
        trace = _transactions(ledger)
        first = asyncio.create_task(ledger.reserve("acme", 0.5, BUDGET, now=NOW))
        second = asyncio.create_task(ledger.reserve("acme", 0.25, BUDGET, now=NOW))
        await asyncio.sleep(0)  # the first ran at once; the second waits for this turn's commit
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
        await first
        await asyncio.sleep(0.05)  # the release posted to the thread (it finds nothing)
        return (await ledger.spend("acme", now=NOW)).day_reserved_usd, trace

    reserved, trace = _run(tmp_path / "l.sqlite3", body)
    assert reserved == 0.5  # the first's hold only
    assert len([s for s in trace if "INSERT INTO reservations" in s]) == 1
    assert "BEGIN IMMEDIATE" not in trace  # the second's batch never ran
    assert _rows(tmp_path / "l.sqlite3", "SELECT amount FROM reservations") == [(500_000_000,)]


def test_a_settle_cancelled_before_its_batch_runs_is_recorded_all_the_same(tmp_path: Path) -> None:
    async def body(ledger: SqliteLedger) -> tuple[float, float]:
        a, b = await asyncio.gather(*(ledger.reserve("acme", 0.5, BUDGET, now=NOW) for _ in range(2)))
        first = asyncio.create_task(ledger.settle(a, 0.1))
        second = asyncio.create_task(ledger.settle(b, 0.2))
        await asyncio.sleep(0)  # the second settle waits for this turn's commit
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
        await first
        spend = await ledger.spend("acme", now=NOW)
        return spend.day_committed_usd, spend.day_reserved_usd

    assert _run(tmp_path / "l.sqlite3", body) == (pytest.approx(0.3), 0)


def test_a_statement_that_fails_alone_fails_alone(tmp_path: Path) -> None:
    # The turn's first hold goes in at once; the next two, in one batch, share an id: the second insert
    # breaks the primary key, SQLite undoes that statement only, and the batch's first hold is committed.
    async def body(ledger: SqliteLedger) -> list[object]:
        ids = iter(["alone", "same-id", "same-id"])
        ledger._new_id = lambda: next(ids)  # type: ignore[assignment]
        return list(
            await asyncio.gather(
                ledger.reserve("acme", 0.5, BUDGET, now=NOW),
                ledger.reserve("acme", 0.25, BUDGET, now=NOW),
                ledger.reserve("acme", 0.125, BUDGET, now=NOW),
                return_exceptions=True,
            )
        )

    alone, first, second = _run(tmp_path / "l.sqlite3", body)
    assert isinstance(alone, Reservation) and isinstance(first, Reservation) and first.amount_usd == 0.25
    assert isinstance(second, LedgerUnavailable) and "UNIQUE" in str(second)
    assert _rows(tmp_path / "l.sqlite3", "SELECT id, amount FROM reservations ORDER BY id") == [
        ("alone", 500_000_000),
        ("same-id", 250_000_000),
    ]


class _CommitFails:
    """The loop's connection, except that COMMIT fails as it does when the disk is full."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT":
            raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def test_a_failed_commit_fails_every_statement_of_the_batch_and_keeps_nothing(tmp_path: Path) -> None:
    async def body(ledger: SqliteLedger) -> tuple[list[object], float]:
        real = ledger._loop_conn
        ledger._loop_conn = _CommitFails(real)  # type: ignore[assignment]
        answers = await asyncio.gather(
            *(ledger.reserve("acme", 0.5, BUDGET, now=NOW) for _ in range(4)), return_exceptions=True
        )
        ledger._loop_conn = real
        return list(answers), (await ledger.spend("acme", now=NOW)).day_reserved_usd

    (alone, *batch), reserved = _run(tmp_path / "l.sqlite3", body)
    assert isinstance(alone, Reservation)  # the turn's first, committed on its own before the batch
    assert all(isinstance(a, LedgerUnavailable) and "disk is full" in str(a) for a in batch), batch
    assert reserved == 0.5  # the batch rolled back: nothing reported that is not on disk, nothing held


def test_a_write_that_raises_something_else_fails_its_batch_and_leaves_no_transaction_open(
    tmp_path: Path,
) -> None:
    # A bug in a statement's function must not leave the loop's connection inside a transaction (every
    # later write would then wait forever for a lock it holds itself).
    def broken(conn: sqlite3.Connection) -> None:
        raise RuntimeError("a bug")

    async def body(ledger: SqliteLedger) -> tuple[list[object], Reservation]:
        answers = await asyncio.wait_for(  # (unanswered, they would wait forever)
            asyncio.gather(
                ledger.reserve("acme", 0.125, BUDGET, now=NOW),  # the turn's first: at once
                ledger._write(broken, run_if_cancelled=False),
                ledger.reserve("acme", 0.5, BUDGET, now=NOW),
                return_exceptions=True,
            ),
            10,
        )
        assert not ledger._loop_conn.in_transaction
        return list[object](answers)[1:], await ledger.reserve("acme", 0.25, BUDGET, now=NOW)

    answers, later = _run(tmp_path / "l.sqlite3", body)
    assert all(isinstance(a, LedgerUnavailable) and "a bug" in str(a) for a in answers), answers
    assert later.amount_usd == 0.25
    assert _rows(tmp_path / "l.sqlite3", "SELECT amount FROM reservations ORDER BY amount") == [
        (125_000_000,),
        (250_000_000,),
    ]


def test_a_batch_that_finds_the_lock_taken_waits_on_the_thread_and_loses_nothing(tmp_path: Path) -> None:
    # Another process holds SQLite's write lock: the turn's first write and the batch after it both go
    # to the ledger thread, the loop keeps serving, and every hold goes in once the lock is released.
    path = tmp_path / "l.sqlite3"

    async def body(ledger: SqliteLedger) -> tuple[int, int, list[Reservation]]:
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            other.execute("BEGIN IMMEDIATE")
            reserving = asyncio.gather(*(ledger.reserve("acme", 0.25, BUDGET, now=NOW) for _ in range(3)))
            ticks = 0
            for _ in range(10):  # the loop is not blocked while they wait
                await asyncio.sleep(0.01)
                ticks += 1
            assert not reserving.done()
            other.execute("COMMIT")
            held = await asyncio.wait_for(reserving, 10)
        finally:
            other.close()
        return ticks, ledger.lock_waits, list(held)

    ticks, lock_waits, held = _run(path, body)
    assert (ticks, lock_waits) == (10, 3)
    assert len({r.id for r in held}) == 3
    assert _rows(path, "SELECT COUNT(*), SUM(amount) FROM reservations") == [(3, 750_000_000)]
