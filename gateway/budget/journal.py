"""Settlements that cannot land right away wait in a durable local journal, and are retried until they do.

A request's cost is known only when it ends; if the ledger is unreachable then (Redis paused or restarting,
SQLite locked, disk full), dropping the settlement would lose money and leave the reservation holding
budget until it expires. `JournaledSettler.settle` instead writes the settlement to a file (fsync'd, then
renamed into place) and a background task replays it until the ledger takes it. Settling is idempotent per
reservation id (`SpendLedger.settle`), so a replay after a crash between "landed" and "file removed" is safe.

    settler = JournaledSettler(ledger, data_dir / "settle-journal", on_pending=gauge.set, on_failure=c.inc)
    await settler.start(stack)            # replays what a previous run left behind
    await settler.settle(reservation, 0.0123)

Limits: a settlement that waits longer than the ledger remembers expired reservations (`EXPIRED_GRACE_S`,
one day) is ignored by the ledger when it finally lands. `BudgetSettlementsPending` tickets long before.
If the journal itself cannot be written (the local disk is full too), the settlement is kept in memory,
retried the same way, and logged; only a crash in that state loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path

from gateway.budget.ledger import Reservation, SpendLedger

__all__ = ["JournaledSettler"]

log = logging.getLogger(__name__)

_SUFFIX = ".settle.json"


class JournaledSettler:
    def __init__(
        self,
        ledger: SpendLedger,
        journal_dir: Path,
        *,
        on_pending: Callable[[int], None] = lambda n: None,
        on_failure: Callable[[], None] = lambda: None,
        attempt_timeout_s: float = 2.0,
        retry_s: float = 1.0,
        max_retry_s: float = 30.0,
    ) -> None:
        self.ledger = ledger
        self.journal_dir = journal_dir
        self.on_pending = on_pending
        self.on_failure = on_failure
        self.attempt_timeout_s = attempt_timeout_s
        self.retry_s = retry_s
        self.max_retry_s = max_retry_s
        # reservation id -> (reservation, usd, journal file or None when it could not be written)
        self._pending: dict[str, tuple[Reservation, float, Path | None]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def start(self, stack: AsyncExitStack) -> None:
        """Load what an earlier run journaled, start the retry loop, register its stop on `stack`."""
        await asyncio.to_thread(self._load)
        self.on_pending(self.pending)
        self._task = asyncio.create_task(self._retry_loop(), name="settle-journal")
        stack.push_async_callback(self.stop)

    async def stop(self) -> None:
        """One last attempt for everything pending; what still fails stays journaled for the next start."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._replay()
        if self._pending:
            log.error(
                "%d settlement(s) still pending at shutdown; kept in %s", self.pending, self.journal_dir
            )

    async def settle(self, reservation: Reservation, usd: float) -> None:
        """Settle now; if the ledger fails, journal the settlement for the retry loop. Never raises.

        No timeout of its own on this, the hot path (it cost ~7 µs a call): each ledger bounds its calls
        itself — SQLite's busy timeout, the Redis client's socket timeouts (gateway/budget/factory.py).
        """
        try:
            await self.ledger.settle(reservation, usd)
            return
        except Exception as exc:  # whatever the store says, the money must not be lost
            log.warning("settling %s failed (%s); journaled for retry", reservation.id, type(exc).__name__)
        self.on_failure()
        path = await asyncio.to_thread(self._write, reservation, usd)
        self._pending[reservation.id] = (reservation, usd, path)
        self.on_pending(self.pending)
        self._wake.set()

    async def _retry_loop(self) -> None:
        delay = self.retry_s
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                delay = self.retry_s
            await asyncio.sleep(delay)
            await self._replay()
            delay = min(delay * 2, self.max_retry_s) if self._pending else self.retry_s

    async def _replay(self) -> None:
        for rid, (reservation, usd, path) in list(self._pending.items()):
            try:
                async with asyncio.timeout(self.attempt_timeout_s):
                    await self.ledger.settle(reservation, usd)
            except Exception as exc:
                log.info("journaled settlement %s still pending: %s", rid, type(exc).__name__)
                return  # the ledger is still away: try the rest next round
            del self._pending[rid]
            if path is not None:
                await asyncio.to_thread(_unlink, path)
            self.on_pending(self.pending)

    def _write(self, reservation: Reservation, usd: float) -> Path | None:
        record = {
            "id": reservation.id,
            "tenant": reservation.tenant,
            "amount_usd": reservation.amount_usd,
            "day_key": reservation.day_key,
            "month_key": reservation.month_key,
            "actual_usd": usd,
        }
        final = self.journal_dir / f"{_safe(reservation.id)}{_SUFFIX}"
        tmp = final.with_name("." + final.name + ".tmp")
        try:
            self.journal_dir.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(record, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
            _fsync_dir(self.journal_dir)
        except OSError as exc:
            log.error("could not journal settlement %s (%s): kept in memory only", reservation.id, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()
            return None
        return final

    def _load(self) -> None:
        if not self.journal_dir.is_dir():
            return
        for path in sorted(self.journal_dir.glob(f"*{_SUFFIX}")):
            try:
                rec = json.loads(path.read_text(encoding="utf-8"))
                reservation = Reservation(
                    rec["id"], rec["tenant"], float(rec["amount_usd"]), rec["day_key"], rec["month_key"]
                )
                usd = float(rec["actual_usd"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.error("unreadable settlement journal entry %s: %s (left in place)", path.name, exc)
                continue
            self._pending[reservation.id] = (reservation, usd, path)
        for stale in self.journal_dir.glob(f".*{_SUFFIX}.tmp"):
            _unlink(stale)  # a write that crashed before its rename never counted


def _safe(rid: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in rid)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
