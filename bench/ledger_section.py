"""Section ledger: CPU per reserve + settle, the bare ledger against the lane's journaled path, one run.

Before issue 11 the LLM route called `ledger.reserve` then `ledger.settle` directly; now the settlement goes
through `JournaledSettler.settle` (an attempt timeout, a shield, and the journal only on failure). Both are
timed here on the same ledger, alternating in rounds, for SQLite and (when `redis-server` is installed) a
Redis on 127.0.0.1 started for the run. CPU is this process's user+system time (the SQLite thread's
included), divided by the operations; Redis's own CPU is not counted, as it is another process.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.load import load_average
from bench.report import heading
from gateway.budget.factory import create_ledger
from gateway.budget.journal import JournaledSettler
from gateway.budget.ledger import Budget, SpendLedger
from monitoring.stack.processes import free_port

__all__ = ["run"]

OPS_PER_ROUND = 500
ROUNDS = 10
BUDGET = Budget(daily_usd=1e9, monthly_usd=None)


async def _cpu_per_op(op: Callable[[int], Awaitable[None]], n: int) -> float:
    # process_time, not os.times(): os.times() counts in clock ticks (10 ms here), as coarse as a whole
    # round of SQLite pairs (~20 ms), which swung the ratio 0.95-1.24x between runs of the same code.
    # Both count every thread of the process.
    start = time.process_time()
    for i in range(n):
        await op(i)
    return (time.process_time() - start) / n * 1000.0


async def _measure(ledger: SpendLedger, journal: Path) -> dict[str, float]:
    now = datetime.now(UTC)
    async with AsyncExitStack() as stack:
        settler = JournaledSettler(ledger, journal)
        await settler.start(stack)

        async def bare(i: int) -> None:
            res = await ledger.reserve(f"t{i % 8}", 0.001, BUDGET, now=now)
            await ledger.settle(res, 0.0005)

        async def journaled(i: int) -> None:
            res = await ledger.reserve(f"t{i % 8}", 0.001, BUDGET, now=now)
            await settler.settle(res, 0.0005)

        await _cpu_per_op(bare, 200)  # warm-up: connections, statements, caches
        totals = {"bare": 0.0, "journaled": 0.0}
        ops = {"bare": bare, "journaled": journaled}
        for r in range(ROUNDS):
            # alternate which goes first, so neither always runs on the warmer (or fuller) ledger
            for name in ("bare", "journaled") if r % 2 == 0 else ("journaled", "bare"):
                totals[name] += await _cpu_per_op(ops[name], OPS_PER_ROUND)
        assert settler.pending == 0
    return {k: v / ROUNDS for k, v in totals.items()}


def _start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str] | None:
    exe = shutil.which("redis-server")
    if exe is None:
        return None
    port = free_port()
    proc = subprocess.Popen(
        [
            exe,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.3)
    return proc, f"redis://127.0.0.1:{port}/0"


async def _backend(kind: str, workdir: Path, url: str | None) -> dict[str, float]:
    ledger = create_ledger(
        kind,  # type: ignore[arg-type]
        sqlite_path=workdir / "ledger.sqlite3",
        redis_url=url,
        reservation_ttl_s=600,
    )
    try:
        return await _measure(ledger, workdir / f"journal-{kind}")
    finally:
        await ledger.close()


def run(workdir: Path | None = None) -> dict[str, Any]:
    print(
        heading(
            "ledger: CPU per reserve + settle (ms), bare ledger vs the journaled settle path",
            load_average(),
            os.cpu_count(),
        )
    )
    base = Path(tempfile.mkdtemp(prefix="ledger-", dir=workdir))
    results: dict[str, Any] = {}
    results["sqlite"] = asyncio.run(_backend("sqlite", base, None))
    redis = _start_redis(base)
    if redis is None:
        results["redis"] = {"skipped": "redis-server is not installed"}
    else:
        proc, url = redis
        try:
            results["redis"] = asyncio.run(_backend("redis", base, url))
        finally:
            proc.terminate()
            proc.wait(10)
    for kind, figures in results.items():
        if "bare" in figures:
            figures["ratio"] = figures["journaled"] / figures["bare"]
            print(
                f"  {kind:6s}  bare {figures['bare']:.3f} ms   journaled {figures['journaled']:.3f} ms   "
                f"ratio {figures['ratio']:.2f}x (goal <= 1.10x)"
            )
        else:
            print(f"  {kind:6s}  {figures['skipped']}")
    return results


if __name__ == "__main__":
    run()
