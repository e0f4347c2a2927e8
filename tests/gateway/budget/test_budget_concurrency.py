"""The promise that check-then-bill gateways break: concurrent requests never push spend past the budget.

200 requests, each holding $1 against a $50 budget, race through reserve → (upstream) → settle on several
ledgers sharing one store: several SQLite connections, two OS processes on one SQLite file, two Redis
clients ("replicas") on one server. Committed spend plus live holds is sampled throughout and must never
pass the limit; when every request costs exactly what it held, exactly 50 get through.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from gateway.budget.factory import create_ledger
from gateway.budget.ledger import Budget, BudgetWouldBeExceeded, SpendLedger
from gateway.budget.sqlite_store import SqliteLedger

NOW = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)
TENANT = "acme"
N_REQUESTS = 200


@dataclass
class Outcome:
    admitted: int = 0
    refused_windows: list[str] = field(default_factory=list)
    max_seen_day_usd: float = 0.0
    max_seen_month_usd: float = 0.0


async def burst(
    ledgers: list[SpendLedger], budget: Budget, *, n: int = N_REQUESTS, actual_fraction: float = 1.0
) -> Outcome:
    """n concurrent requests of $1 each, spread over `ledgers`, with a monitor sampling the spend."""
    outcome = Outcome()
    rng = random.Random(7)
    delays = [rng.uniform(0, 0.004) for _ in range(n)]
    done = asyncio.Event()

    async def request(i: int) -> None:
        ledger = ledgers[i % len(ledgers)]
        try:
            reservation = await ledger.reserve(TENANT, 1.0, budget, now=NOW)
        except BudgetWouldBeExceeded as exc:
            outcome.refused_windows.append(exc.window)
            return
        outcome.admitted += 1
        await asyncio.sleep(delays[i])  # the upstream call
        await ledger.settle(reservation, 1.0 * actual_fraction)

    async def monitor() -> None:
        while not done.is_set():
            snap = await ledgers[-1].spend(TENANT, now=NOW)
            outcome.max_seen_day_usd = max(outcome.max_seen_day_usd, snap.day_usd)
            outcome.max_seen_month_usd = max(outcome.max_seen_month_usd, snap.month_usd)
            await asyncio.sleep(0.001)

    watcher = asyncio.create_task(monitor())
    try:
        await asyncio.gather(*(request(i) for i in range(n)))
    finally:
        done.set()
        await watcher
    return outcome


async def committed(ledger: SpendLedger) -> tuple[float, float, float]:
    snap = await ledger.spend(TENANT, now=NOW)
    return snap.day_committed_usd, snap.month_committed_usd, snap.day_reserved_usd


async def close_all(ledgers: list[SpendLedger]) -> None:
    for ledger in ledgers:
        await ledger.close()


def check_exact(outcome: Outcome, limit: float, window: str) -> None:
    assert outcome.admitted == 50
    assert len(outcome.refused_windows) == N_REQUESTS - 50
    assert set(outcome.refused_windows) == {window}
    assert outcome.max_seen_day_usd <= limit
    assert outcome.max_seen_month_usd <= limit


@pytest.mark.parametrize("n_connections", [1, 3])
def test_sqlite_connections_in_one_process_admit_exactly_the_budget(tmp_path, n_connections):
    async def main() -> None:
        ledgers: list[SpendLedger] = [SqliteLedger(tmp_path / "b.sqlite3") for _ in range(n_connections)]
        try:
            outcome = await burst(ledgers, Budget(daily_usd=50.0, monthly_usd=None))
            check_exact(outcome, 50.0, "daily")
            assert await committed(ledgers[0]) == (50.0, 50.0, 0.0)
        finally:
            await close_all(ledgers)

    asyncio.run(main())


def test_sqlite_monthly_limit_binds_and_cheaper_settles_admit_more(tmp_path):
    async def main() -> None:
        ledgers: list[SpendLedger] = [SqliteLedger(tmp_path / "b.sqlite3") for _ in range(2)]
        try:
            exact = await burst(ledgers, Budget(daily_usd=80.0, monthly_usd=50.0))
            check_exact(exact, 50.0, "monthly")
            # Requests that cost half what they held free budget for later ones, never overshooting it.
            ledgers2: list[SpendLedger] = [SqliteLedger(tmp_path / "c.sqlite3") for _ in range(2)]
            try:
                half = await burst(ledgers2, Budget(daily_usd=50.0, monthly_usd=None), actual_fraction=0.5)
                assert half.max_seen_day_usd <= 50.0
                assert 50 <= half.admitted <= 100
                day, _, held = await committed(ledgers2[0])
                assert (day, held) == (half.admitted * 0.5, 0.0)
            finally:
                await close_all(ledgers2)
        finally:
            await close_all(ledgers)

    asyncio.run(main())


# A gateway worker in its own OS process: opens the shared file, says "ready", waits for "go" on stdin so
# both processes start racing together, runs its share of the burst, prints its outcome as JSON.
_WORKER = """
import asyncio, json, sys
from datetime import UTC, datetime
from pathlib import Path
from gateway.budget.ledger import Budget, BudgetWouldBeExceeded
from gateway.budget.sqlite_store import SqliteLedger

async def main(path, n):
    ledger = SqliteLedger(Path(path))
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    now = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)
    admitted, refused = 0, []
    async def request(i):
        nonlocal admitted
        await asyncio.sleep(i * 0.002)  # arrivals spread over 0.2 s, interleaved with the other process
        try:
            r = await ledger.reserve("acme", 1.0, Budget(daily_usd=50.0, monthly_usd=None), now=now)
        except BudgetWouldBeExceeded as exc:
            refused.append(exc.window)
            return
        admitted += 1
        await asyncio.sleep(0.002)
        await ledger.settle(r, 1.0)
    await asyncio.gather(*(request(i) for i in range(n)))
    await ledger.close()
    print(json.dumps({"admitted": admitted, "refused": refused}), flush=True)

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def test_two_processes_sharing_one_sqlite_file_admit_exactly_the_budget(tmp_path):
    path = tmp_path / "shared.sqlite3"
    cmd = [sys.executable, "-c", _WORKER, str(path), str(N_REQUESTS // 2)]
    procs = [
        subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "ready", p.stderr.read() if p.stderr else ""
        for p in procs:  # both "go" before either is waited on, so they race
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=5)

    assert sum(r["admitted"] for r in results) == 50
    assert all(r["admitted"] > 0 for r in results), "one process never got a turn: the race did not happen"
    assert sorted(w for r in results for w in r["refused"]) == ["daily"] * (N_REQUESTS - 50)

    async def read_back() -> tuple[float, float, float]:
        ledger = SqliteLedger(path)
        try:
            return await committed(ledger)
        finally:
            await ledger.close()

    assert asyncio.run(read_back()) == (50.0, 50.0, 0.0)


@pytest.mark.integration
def test_two_redis_replicas_admit_exactly_the_budget(redis_server):
    async def main() -> None:
        prefix = f"test-concurrency-{uuid.uuid4().hex[:12]}:"
        ledgers = [
            create_ledger(
                "redis",
                sqlite_path=None,
                redis_url=redis_server.url,
                reservation_ttl_s=600,
                redis_key_prefix=prefix,
            )
            for _ in range(2)
        ]
        try:
            outcome = await burst(ledgers, Budget(daily_usd=50.0, monthly_usd=None))
            check_exact(outcome, 50.0, "daily")
            assert await committed(ledgers[0]) == (50.0, 50.0, 0.0)
            half = await burst(ledgers, Budget(daily_usd=None, monthly_usd=100.0), actual_fraction=0.5)
            assert half.max_seen_month_usd <= 100.0
            assert set(half.refused_windows) <= {"monthly"}
            _, month, held = await committed(ledgers[1])
            assert (month, held) == (50.0 + half.admitted * 0.5, 0.0)
            assert month <= 100.0
        finally:
            await close_all(ledgers)

    asyncio.run(main())
