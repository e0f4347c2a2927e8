"""The embedded spend ledger: one SQLite file in WAL mode, shared safely by threads and processes.

    ledger = SqliteLedger(data_dir / "budget.sqlite3")
    reservation = await ledger.reserve("acme", 0.02, Budget(daily_usd=5.0, monthly_usd=100.0), now=now)

`reserve` and `settle` are each one write statement (the limit check folded into the hold's insert; the
settle a trigger), and a write statement takes SQLite's write lock before reading, as `BEGIN IMMEDIATE`
would, so the check of both windows and the insert of the hold cannot interleave with another writer —
another thread, another `SqliteLedger`, or another process opening the same file (gateway workers). A call
that finds the lock taken for longer than `busy_timeout_s` raises `LedgerUnavailable`.

The statements run on the event loop's own connection, which never waits for the write lock (busy
timeout 0): a statement of a few µs costs less there than a hand-off to a thread and back (two wake-ups,
and the GIL won back from the busy loop after each SQLite call; bench/README.md). When another writer
holds the lock, the statement failed before it changed anything and runs again on the ledger's own
thread (`SerialThread`), which waits up to `busy_timeout_s`: the loop never waits on the lock. WAL
checkpoints, whose fsync must stay off the loop, are posted to that thread. When the thread falls a
whole checkpoint interval behind (starved of CPU or of the GIL by a busy loop), the loop's statements
run on the thread, behind the checkpoint, until it is done: the WAL on disk stays within about two
intervals of writes, however the threads are scheduled. The price of this choice: a commit's write into
the WAL (the OS page cache; no fsync at synchronous=NORMAL) happens on the loop.

A `reserve` whose caller is cancelled while it waits on the thread queues a release behind itself, so an
abandoned request does not hold budget until it expires.

Group commit: a turn of the event loop's first reserve or settle runs at once, as its own statement; the
ones asked for after it in the same turn run together, in order, in one `BEGIN IMMEDIATE … COMMIT`, once
that turn's other callbacks have run. Each still gets its own answer, and only after the commit, so
nothing is reported that is not on disk, and a client sending one request at a time waits for nothing.
A commit (the WAL frames, the WAL index, the file locks) is most of a statement's cost: at 8 a batch a
reserve and its settle cost ~37 µs of CPU instead of ~81 (bench/README.md). A statement that fails alone
is undone alone and fails alone; when SQLite rolls the whole transaction back (a full disk, an I/O
error) or the commit fails, every statement of the batch fails. A reserve whose caller is cancelled
before its batch runs is not run; a settle always runs (it moves money), as it would have on the thread.

Durability: `synchronous=NORMAL` in WAL mode, so a committed spend survives a crash or restart of the
gateway process; only an OS crash or power cut can lose the last transactions.

Tables: `spend(tenant, period, committed)` — committed nano-USD per tenant per window key (`YYYY-MM-DD`,
`YYYY-MM`), kept as history; `reservations(id, tenant, day_key, month_key, amount, expires_at)` — live
holds, deleted when settled, ignored once `expires_at` has passed, purged `EXPIRED_GRACE_S` later.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from gateway.budget.ledger import (
    EXPIRED_GRACE_S,
    Budget,
    BudgetWouldBeExceeded,
    LedgerUnavailable,
    Reservation,
    SpendSnapshot,
    Window,
    from_nano,
    to_nano,
)
from gateway.budget.serial_thread import SerialThread
from gateway.budget.windows import window_keys
from gateway.random_ids import RandomIds

__all__ = ["SqliteLedger"]

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spend (
    tenant    TEXT    NOT NULL,
    period    TEXT    NOT NULL,             -- 'YYYY-MM-DD' (day) or 'YYYY-MM' (month), UTC
    committed INTEGER NOT NULL DEFAULT 0,   -- nano-USD
    PRIMARY KEY (tenant, period)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reservations (
    id         TEXT    PRIMARY KEY,
    tenant     TEXT    NOT NULL,
    day_key    TEXT    NOT NULL,
    month_key  TEXT    NOT NULL,
    amount     INTEGER NOT NULL,            -- nano-USD held
    expires_at REAL    NOT NULL             -- epoch seconds; after it the hold no longer counts
) WITHOUT ROWID;  -- one b-tree fewer to write on every commit (~25% of a reserve+settle)
CREATE INDEX IF NOT EXISTS reservations_by_tenant ON reservations (tenant, expires_at);
-- A settle is one INSERT into this view: its trigger records the cost (only if the hold was still
-- there, so a second settle records nothing) and removes the hold, atomically, in one statement.
CREATE VIEW IF NOT EXISTS settlements (id, actual) AS SELECT id, amount FROM reservations WHERE 0;
CREATE TRIGGER IF NOT EXISTS settle INSTEAD OF INSERT ON settlements BEGIN
    INSERT INTO spend (tenant, period, committed)
        SELECT tenant, day_key, NEW.actual FROM reservations WHERE id = NEW.id AND NEW.actual > 0
        UNION ALL
        SELECT tenant, month_key, NEW.actual FROM reservations WHERE id = NEW.id AND NEW.actual > 0
        ON CONFLICT (tenant, period) DO UPDATE SET committed = committed + excluded.committed;
    DELETE FROM reservations WHERE id = NEW.id;
END;
"""

# One statement reads everything the limit check needs: committed and live-held, for both windows.
_USAGE = """
SELECT
    (SELECT committed FROM spend WHERE tenant = ?1 AND period = ?2),
    (SELECT committed FROM spend WHERE tenant = ?1 AND period = ?3),
    (SELECT SUM(amount) FROM reservations WHERE tenant = ?1 AND expires_at > ?4 AND day_key = ?2),
    (SELECT SUM(amount) FROM reservations WHERE tenant = ?1 AND expires_at > ?4 AND month_key = ?3)
"""
# The hold goes in only if both windows still have room: the limit check IS the insert, one statement.
# A write statement takes SQLite's write lock before its first read (like BEGIN IMMEDIATE), so the
# check cannot interleave with another writer's; no rows inserted means refused.
_RESERVE = """
INSERT INTO reservations (id, tenant, day_key, month_key, amount, expires_at)
SELECT ?1, ?2, ?3, ?4, ?5, ?7
WHERE (?8 IS NULL OR ?5
       + IFNULL((SELECT committed FROM spend WHERE tenant = ?2 AND period = ?3), 0)
       + IFNULL((SELECT SUM(amount) FROM reservations
                 WHERE tenant = ?2 AND expires_at > ?6 AND day_key = ?3), 0)
       <= ?8)
  AND (?9 IS NULL OR ?5
       + IFNULL((SELECT committed FROM spend WHERE tenant = ?2 AND period = ?4), 0)
       + IFNULL((SELECT SUM(amount) FROM reservations
                 WHERE tenant = ?2 AND expires_at > ?6 AND month_key = ?4), 0)
       <= ?9)
"""
_PURGE = "DELETE FROM reservations WHERE expires_at < ?"
_SETTLE = "INSERT INTO settlements (id, actual) VALUES (?, ?)"
# Expired holds no longer count (every read filters on expires_at); deleting them is housekeeping, so it
# runs at most this often rather than as a statement on every reserve.
PURGE_EVERY_S = 1.0
# The loop's connection does not checkpoint (an fsync); the thread's runs one this often, in writes:
# ~1,000 WAL pages (SQLite's own default interval) at 2-3 pages a write, a WAL of ~4 MB at most.
CHECKPOINT_EVERY = 400

_Usage = tuple[int, int, int, int]  # committed day, committed month, held day, held month (nano-USD)


def _enable_wal(conn: sqlite3.Connection, busy_timeout_s: float) -> None:
    """Switch to WAL, retrying while another process does the same: SQLite can answer "database is
    locked" at once for a journal-mode change (the busy handler is not always consulted), which two
    gateways starting together on a fresh file run into."""
    deadline = time.monotonic() + busy_timeout_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None (autocommit): each reserve and settle is one statement and so its own
    # transaction; Python's default would open a deferred transaction around it and keep it open.
    conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
    try:
        _enable_wal(conn, busy_timeout_s)
        conn.execute("PRAGMA synchronous=NORMAL")
        # Under the write lock, so processes opening a fresh file together create the schema once.
        conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")
    except BaseException:
        conn.close()
        raise
    return conn


def _open_loop_connection(path: Path) -> sqlite3.Connection:
    """The event loop's connection: never waits for the lock, never checkpoints (see the module docstring).

    check_same_thread=False only because the ledger may be built off the loop's thread; it is used from the
    loop alone."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    return conn


def _usage(conn: sqlite3.Connection, tenant: str, day: str, month: str, now_ts: float) -> _Usage:
    row = conn.execute(_USAGE, (tenant, day, month, now_ts)).fetchone()
    return (row[0] or 0, row[1] or 0, row[2] or 0, row[3] or 0)


def _reserve(
    conn: sqlite3.Connection,
    rid: str,
    tenant: str,
    amount: int,
    limits: tuple[int | None, int | None],
    window: tuple[str, str],
    times: tuple[float, float],
    purge_before: float | None,
) -> tuple[Window, int, int] | None:
    """Insert the hold if both windows have room (one statement); else what the refusal reports.

    With `purge_before`, first delete the holds that expired before it (expired holds already do not
    count; this keeps the table small, and makes a settle that comes later than that a no-op)."""
    (day, month), (now_ts, expires) = window, times
    if purge_before is not None:
        conn.execute(_PURGE, (purge_before,))
    params = (rid, tenant, day, month, amount, now_ts, expires, limits[0], limits[1])
    if conn.execute(_RESERVE, params).rowcount == 1:
        return None
    # Refused. Read what the refusal reports; a settle in between can make it read lower than it was at
    # the check, never the other way round, and the refusal stands either way.
    committed_d, committed_m, held_d, held_m = _usage(conn, tenant, day, month, now_ts)
    daily_over = limits[0] is not None and committed_d + held_d + amount > limits[0]
    if limits[1] is not None and not daily_over:
        return ("monthly", limits[1], committed_m + held_m)
    return ("daily", limits[0] or 0, committed_d + held_d)


def _settle(conn: sqlite3.Connection, rid: str, actual: int) -> None:
    # The `settle` trigger (schema above) records the cost only if it removes the hold.
    conn.execute(_SETTLE, (rid, actual))


def _checkpoint(conn: sqlite3.Connection) -> None:
    # RESTART, not PASSIVE: a passive checkpoint racing the loop's writes never finds the log fully
    # copied, so the WAL would never start over and grow without end. RESTART holds writers off while it
    # copies and syncs (the loop's statements find the lock taken and queue here, behind it), so the
    # next write starts the log from its beginning.
    conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()


@dataclass(slots=True)
class _Write:
    """A write statement waiting for its turn's group commit."""

    fn: Callable[..., object]
    args: tuple[object, ...]
    fut: asyncio.Future[object]
    run_if_cancelled: bool  # a settle: it moves money, so it runs even when its caller has gone


def _fail(fut: asyncio.Future[object], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)


class SqliteLedger:
    """A `SpendLedger` on one SQLite file. See the module docstring for the locking and durability story."""

    def __init__(self, path: Path, *, reservation_ttl_s: float = 600, busy_timeout_s: float = 10.0) -> None:
        if reservation_ttl_s <= 0:
            raise ValueError(f"reservation_ttl_s must be > 0, got {reservation_ttl_s}")
        self.path = Path(path)
        self.reservation_ttl_s = float(reservation_ttl_s)
        self._thread = SerialThread("modelgate-ledger")
        self._closed = False
        self._purged_at = float("-inf")
        self._new_id = RandomIds(id_bytes=12)  # 96 random bits per hold
        self._writes = 0  # since the last checkpoint was posted
        self._checkpoint_pending = False  # set on the loop when posted, cleared on the thread when done
        self._batch: list[_Write] | None = None  # this turn's writes, committed together
        self.lock_waits = 0  # statements that found the write lock taken and waited on the thread
        self.checkpoint_waits = 0  # statements that waited on the thread for a checkpoint behind time
        try:
            self._conn = self._thread.run_blocking(_connect, self.path, busy_timeout_s)
        except sqlite3.Error as exc:
            self._thread.stop_blocking()
            raise LedgerUnavailable(f"cannot open the spend ledger {self.path}: {exc}") from exc
        try:
            self._loop_conn = _open_loop_connection(self.path)
        except sqlite3.Error as exc:
            self._thread.post(self._conn.close)  # the thread's connection, opened just above
            self._thread.stop_blocking()
            raise LedgerUnavailable(f"cannot open the spend ledger {self.path}: {exc}") from exc

    def _checkpoint_late(self) -> bool:
        """A whole interval since the checkpoint was posted and it has not run: statements then wait for
        it on the thread rather than let the WAL grow with the thread's lag (bounded disk over latency:
        such a wait lasts at most the checkpoint, which gives up after `busy_timeout_s` if a reader holds
        it off)."""
        if self._checkpoint_pending and self._writes >= CHECKPOINT_EVERY:
            self.checkpoint_waits += 1
            return True
        return False

    async def _at_once(self, fn: Callable[..., _T], *args: object) -> _T:
        """`fn(connection, *args)` at once on the loop's connection (its own implicit transaction); on the
        thread's when the lock is taken or a checkpoint is late."""
        if self._closed:
            raise LedgerUnavailable("the spend ledger is closed")
        if self._checkpoint_late():
            return await self._on_thread(fn, *args)
        return await self._on_loop(fn, *args)

    async def _on_loop(self, fn: Callable[..., _T], *args: object) -> _T:
        """`fn` on the loop's connection; again on the thread's when it found the write lock taken."""
        try:
            return fn(self._loop_conn, *args)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise LedgerUnavailable(f"spend ledger {self.path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise LedgerUnavailable(f"spend ledger {self.path}: {exc}") from exc
        # The statement did nothing (SQLite rolled it back): run it again where waiting is fine.
        self.lock_waits += 1
        return await self._on_thread(fn, *args)

    async def _write(self, fn: Callable[..., _T], *args: object, run_if_cancelled: bool) -> _T:
        """`fn(connection, *args)`: the turn's first write at once, the later ones in the turn's group
        commit (the module docstring); on the thread's connection when a checkpoint is late, or when the
        lock is taken."""
        if self._closed:
            raise LedgerUnavailable("the spend ledger is closed")
        if self._checkpoint_late():
            return await self._on_thread(fn, *args)
        loop = asyncio.get_running_loop()
        if self._batch is None:
            # Alone so far: no reason to wait (a client one request at a time pays nothing). The writes
            # that come after it in this turn wait for its end and share one commit.
            self._batch = []
            loop.call_soon(self._commit_batch)
            return await self._on_loop(fn, *args)
        fut: asyncio.Future[object] = loop.create_future()
        self._batch.append(_Write(fn, args, fut, run_if_cancelled))
        try:
            return await fut  # type: ignore[return-value]  # fn's own result
        except sqlite3.Error as exc:  # raised on the thread (the batch found the lock taken)
            raise LedgerUnavailable(f"spend ledger {self.path}: {exc}") from exc

    def _commit_batch(self) -> None:
        """Run this turn's writes in one transaction, then answer each (on the loop, as a callback)."""
        batch = [w for w in self._batch or () if w.run_if_cancelled or not w.fut.cancelled()]
        self._batch = None
        if not batch:  # the turn's first write was alone, or the others were reserves whose callers left
            return
        if self._closed:
            for w in batch:
                _fail(w.fut, LedgerUnavailable("the spend ledger is closed"))
            return
        conn = self._loop_conn
        if len(batch) == 1:
            self._commit_alone(batch[0])
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                self._fail_batch(batch, exc)
                return
            # Another writer holds the lock: each statement runs on the thread, which waits for it.
            self.lock_waits += len(batch)
            for w in batch:
                self._thread.submit(w.fut, w.fn, self._conn, *w.args)
            return
        except sqlite3.Error as exc:
            self._fail_batch(batch, exc)
            return
        answers: list[tuple[_Write, object, LedgerUnavailable | None]] = []
        try:
            for w in batch:
                try:
                    answers.append((w, w.fn(conn, *w.args), None))
                except sqlite3.Error as exc:
                    if not conn.in_transaction:
                        raise  # SQLite rolled the whole transaction back: nothing before it holds either
                    # Only this statement was undone: it alone fails.
                    error = LedgerUnavailable(f"spend ledger {self.path}: {exc}")
                    error.__cause__ = exc
                    answers.append((w, None, error))
            conn.execute("COMMIT")
        except Exception as exc:  # not only SQLite's: a callback must leave no transaction open
            if conn.in_transaction:
                # (If even this fails the connection is unusable; the batch fails either way.)
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            self._fail_batch(batch, exc)
            return
        for w, result, failure in answers:
            if w.fut.done():  # its caller was cancelled (a settle, which ran all the same)
                continue
            if failure is None:
                w.fut.set_result(result)
            else:
                w.fut.set_exception(failure)

    def _commit_alone(self, w: _Write) -> None:
        """A batch of one write: as its own statement, in SQLite's implicit transaction (an explicit
        BEGIN and COMMIT would be two more statements for nothing to share)."""
        try:
            result = w.fn(self._loop_conn, *w.args)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                self._fail_batch([w], exc)
                return
            # The statement did nothing (SQLite rolled it back): run it again where waiting is fine.
            self.lock_waits += 1
            self._thread.submit(w.fut, w.fn, self._conn, *w.args)
            return
        except Exception as exc:
            self._fail_batch([w], exc)
            return
        if not w.fut.done():
            w.fut.set_result(result)

    def _fail_batch(self, batch: list[_Write], exc: Exception) -> None:
        for w in batch:
            error = LedgerUnavailable(f"spend ledger {self.path}: {exc}")
            error.__cause__ = exc
            _fail(w.fut, error)

    async def _on_thread(self, fn: Callable[..., _T], *args: object) -> _T:
        try:
            return await self._thread.call(fn, self._conn, *args)
        except sqlite3.Error as exc:
            raise LedgerUnavailable(f"spend ledger {self.path}: {exc}") from exc

    def _purge_cutoff(self, now_ts: float) -> float | None:
        """Holds that expired before this are deleted with the next reserve: at most once a second."""
        if now_ts - self._purged_at < PURGE_EVERY_S:
            return None
        self._purged_at = now_ts
        return now_ts - EXPIRED_GRACE_S

    def _wrote(self) -> None:
        """Count a write; every CHECKPOINT_EVERY of them, post a WAL checkpoint unless one is pending."""
        self._writes += 1
        if self._writes >= CHECKPOINT_EVERY and not self._checkpoint_pending:
            self._writes = 0
            self._checkpoint_pending = True
            self._thread.post(self._run_checkpoint)

    def _run_checkpoint(self) -> None:
        # On the ledger thread. A failed checkpoint (logged by the thread) is tried again next interval.
        try:
            _checkpoint(self._conn)
        finally:
            self._checkpoint_pending = False

    # --- SpendLedger ---------------------------------------------------------------------------------

    async def reserve(self, tenant: str, amount_usd: float, budget: Budget, *, now: datetime) -> Reservation:
        amount = to_nano(amount_usd)
        limits = (
            None if budget.daily_usd is None else to_nano(budget.daily_usd),
            None if budget.monthly_usd is None else to_nano(budget.monthly_usd),
        )
        day, month = window_keys(now)
        rid = self._new_id()
        now_ts = now.timestamp()
        times = (now_ts, now_ts + self.reservation_ttl_s)
        try:
            purge = self._purge_cutoff(now_ts)
            refusal = await self._write(
                _reserve, rid, tenant, amount, limits, (day, month), times, purge, run_if_cancelled=False
            )
        except asyncio.CancelledError:
            # The caller gave up. Before its batch ran, the hold was never inserted (the release below
            # finds nothing); after, or while it waited on the thread, the release is queued behind it,
            # so the hold does not sit there until it expires.
            self._thread.post(_settle, self._conn, rid, 0)
            raise
        self._wrote()
        task = asyncio.current_task()
        if refusal is None and task is not None and task.cancelling():
            # Cancelled while the hold went in at once (nothing suspended to deliver it): the caller will
            # never see this reservation, so release it, as the other paths do.
            self._thread.post(_settle, self._conn, rid, 0)
            raise asyncio.CancelledError
        if refusal is not None:
            window, limit, spent = refusal
            raise BudgetWouldBeExceeded(tenant, window, from_nano(limit), from_nano(spent), from_nano(amount))
        return Reservation(id=rid, tenant=tenant, amount_usd=from_nano(amount), day_key=day, month_key=month)

    async def settle(self, reservation: Reservation, actual_usd: float) -> None:
        actual = to_nano(actual_usd, what="actual_usd")
        await self._write(_settle, reservation.id, actual, run_if_cancelled=True)
        self._wrote()

    async def release(self, reservation: Reservation) -> None:
        await self.settle(reservation, 0.0)

    async def spend(self, tenant: str, *, now: datetime) -> SpendSnapshot:
        day, month = window_keys(now)
        committed_d, committed_m, held_d, held_m = await self._at_once(
            _usage, tenant, day, month, now.timestamp()
        )
        return SpendSnapshot.from_nano(day, month, (committed_d, committed_m), (held_d, held_m))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop_conn.close()
        self._thread.post(self._conn.close)
        await self._thread.stop()
