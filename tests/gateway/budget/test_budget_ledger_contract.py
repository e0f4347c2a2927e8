"""What every spend ledger promises, run against SQLite and a real Redis with an injected UTC clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from gateway.budget.ledger import Budget, BudgetWouldBeExceeded, SpendLedger

T0 = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
DAILY_1 = Budget(daily_usd=1.0, monthly_usd=None)


def run(open_ledger: Callable[..., SpendLedger], body: Callable[[SpendLedger], Awaitable[None]]) -> None:
    async def main() -> None:
        ledger = open_ledger()
        try:
            await body(ledger)
        finally:
            await ledger.close()

    asyncio.run(main())


def test_reserve_holds_and_settle_replaces_the_hold_with_the_actual(open_ledger):
    async def body(ledger: SpendLedger) -> None:
        r = await ledger.reserve("acme", 0.75, DAILY_1, now=T0)
        assert (r.tenant, r.amount_usd, r.day_key, r.month_key) == ("acme", 0.75, "2026-03-14", "2026-03")
        held = await ledger.spend("acme", now=T0)
        assert (held.day_usd, held.day_reserved_usd, held.day_committed_usd) == (0.75, 0.75, 0.0)
        await ledger.settle(r, 0.3)
        settled = await ledger.spend("acme", now=T0)
        assert (settled.day_usd, settled.day_reserved_usd, settled.month_usd) == (0.3, 0.0, 0.3)

    run(open_ledger, body)


def test_refusal_names_the_window_and_reserves_nothing(open_ledger):
    async def body(ledger: SpendLedger) -> None:
        await ledger.reserve("acme", 0.6, DAILY_1, now=T0)
        with pytest.raises(BudgetWouldBeExceeded) as info:
            await ledger.reserve("acme", 0.5, DAILY_1, now=T0)
        e = info.value
        assert (e.tenant, e.window, e.limit_usd, e.spent_usd, e.requested_usd) == (
            "acme",
            "daily",
            1.0,
            0.6,
            0.5,
        )
        assert (await ledger.spend("acme", now=T0)).day_usd == 0.6
        # exactly up to the limit is allowed
        await ledger.reserve("acme", 0.4, DAILY_1, now=T0)

    run(open_ledger, body)


def test_daily_window_resets_at_utc_midnight_not_local_midnight(open_ledger):
    before = datetime(2026, 3, 14, 23, 59, 59, 999999, tzinfo=UTC)
    # 01:30 at UTC+02:00 on the 15th is still the 14th in UTC
    local_after_midnight = datetime(2026, 3, 15, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    after = datetime(2026, 3, 15, 0, 0, tzinfo=UTC)

    async def body(ledger: SpendLedger) -> None:
        await ledger.settle(await ledger.reserve("acme", 0.9, DAILY_1, now=before), 0.9)
        with pytest.raises(BudgetWouldBeExceeded):
            await ledger.reserve("acme", 0.2, DAILY_1, now=local_after_midnight)
        r = await ledger.reserve("acme", 0.9, DAILY_1, now=after)
        assert r.day_key == "2026-03-15"
        snap = await ledger.spend("acme", now=after)
        assert (snap.day_key, snap.day_usd, snap.month_usd) == ("2026-03-15", 0.9, 1.8)

    run(open_ledger, body)


def test_monthly_window_binds_across_days_and_resets_on_the_first(open_ledger):
    budget = Budget(daily_usd=1.0, monthly_usd=1.5)
    jan31 = datetime(2026, 1, 31, 23, 0, tzinfo=UTC)
    jan30 = jan31 - timedelta(days=1)
    feb1 = datetime(2026, 2, 1, 0, 0, tzinfo=UTC)

    async def body(ledger: SpendLedger) -> None:
        await ledger.settle(await ledger.reserve("acme", 1.0, budget, now=jan30), 1.0)
        with pytest.raises(BudgetWouldBeExceeded) as info:
            await ledger.reserve("acme", 0.6, budget, now=jan31)  # the day is fresh, the month is not
        assert (info.value.window, info.value.spent_usd) == ("monthly", 1.0)
        await ledger.reserve("acme", 1.0, budget, now=feb1)
        snap = await ledger.spend("acme", now=feb1)
        assert (snap.month_key, snap.month_usd) == ("2026-02", 1.0)

    run(open_ledger, body)


def test_a_reservation_is_charged_to_the_window_it_was_made_in(open_ledger):
    before = datetime(2026, 3, 14, 23, 59, 30, tzinfo=UTC)
    after = before + timedelta(minutes=1)

    async def body(ledger: SpendLedger) -> None:
        r = await ledger.reserve("acme", 0.5, DAILY_1, now=before)
        assert (await ledger.spend("acme", now=after)).day_usd == 0.0  # held against yesterday
        await ledger.settle(r, 0.4)
        assert (await ledger.spend("acme", now=before)).day_usd == 0.4
        assert (await ledger.spend("acme", now=after)).day_usd == 0.0

    run(open_ledger, body)


def test_expired_reservation_stops_counting_but_a_late_settle_is_recorded(open_ledger):
    async def body(ledger: SpendLedger) -> None:
        crashed = await ledger.reserve("acme", 0.8, DAILY_1, now=T0)
        with pytest.raises(BudgetWouldBeExceeded):
            await ledger.reserve("acme", 0.5, DAILY_1, now=T0 + timedelta(seconds=59))
        assert (await ledger.spend("acme", now=T0 + timedelta(seconds=61))).day_usd == 0.0
        r = await ledger.reserve("acme", 0.5, DAILY_1, now=T0 + timedelta(seconds=61))
        await ledger.settle(crashed, 0.3)  # the "crashed" request reports after all: the truth is kept
        snap = await ledger.spend("acme", now=T0 + timedelta(seconds=62))
        assert (snap.day_committed_usd, snap.day_reserved_usd) == (0.3, 0.5)
        await ledger.settle(r, 0.5)
        assert (await ledger.spend("acme", now=T0 + timedelta(seconds=62))).day_usd == 0.8

    async def main() -> None:
        ledger = open_ledger(reservation_ttl_s=60)
        try:
            await body(ledger)
        finally:
            await ledger.close()

    asyncio.run(main())


def test_settle_above_the_reservation_records_the_truth_and_blocks_the_next_request(open_ledger):
    async def body(ledger: SpendLedger) -> None:
        r = await ledger.reserve("acme", 0.5, DAILY_1, now=T0)
        await ledger.settle(r, 1.25)  # the upstream over-delivered
        assert (await ledger.spend("acme", now=T0)).day_usd == 1.25
        with pytest.raises(BudgetWouldBeExceeded) as info:
            await ledger.reserve("acme", 0.0001, DAILY_1, now=T0)
        assert info.value.spent_usd == 1.25

    run(open_ledger, body)


def test_release_gives_the_budget_back_and_settling_twice_counts_once(open_ledger):
    async def body(ledger: SpendLedger) -> None:
        r = await ledger.reserve("acme", 1.0, DAILY_1, now=T0)
        with pytest.raises(BudgetWouldBeExceeded):
            await ledger.reserve("acme", 0.01, DAILY_1, now=T0)
        await ledger.release(r)
        assert (await ledger.spend("acme", now=T0)).day_usd == 0.0
        r2 = await ledger.reserve("acme", 1.0, DAILY_1, now=T0)
        await ledger.settle(r2, 0.25)
        await ledger.settle(r2, 0.25)
        await ledger.release(r2)
        await ledger.release(r)
        assert (await ledger.spend("acme", now=T0)).day_usd == 0.25

    run(open_ledger, body)


def test_sums_are_exact_and_tenants_are_separate(open_ledger):
    async def body(ledger: SpendLedger) -> None:
        for _ in range(10):
            await ledger.settle(await ledger.reserve("acme", 0.1, DAILY_1, now=T0), 0.1)
        # ten float additions of 0.1 give 0.9999999999999999; the ledger keeps whole nano-dollars
        assert (await ledger.spend("acme", now=T0)).day_usd == 1.0
        other = await ledger.spend("globex", now=T0)
        assert (other.day_usd, other.month_usd) == (0.0, 0.0)
        await ledger.reserve("globex", 1.0, DAILY_1, now=T0)

    run(open_ledger, body)


def test_unlimited_budget_admits_everything_and_still_records_spend(open_ledger):
    async def body(ledger: SpendLedger) -> None:
        r = await ledger.reserve("acme", 10_000.0, Budget(daily_usd=None, monthly_usd=None), now=T0)
        await ledger.settle(r, 9_876.543210123)
        snap = await ledger.spend("acme", now=T0)
        assert (snap.day_usd, snap.month_usd) == (9_876.543210123, 9_876.543210123)

    run(open_ledger, body)


def test_spend_and_holds_survive_a_new_ledger_on_the_same_store(open_ledger):
    async def main() -> None:
        first = open_ledger()
        await first.settle(await first.reserve("acme", 0.4, DAILY_1, now=T0), 0.4)
        held = await first.reserve("acme", 0.5, DAILY_1, now=T0)
        await first.close()

        second = open_ledger()
        try:
            snap = await second.spend("acme", now=T0 + timedelta(seconds=1))
            assert (snap.day_committed_usd, snap.day_reserved_usd) == (0.4, 0.5)
            with pytest.raises(BudgetWouldBeExceeded):
                await second.reserve("acme", 0.2, DAILY_1, now=T0)
            await second.settle(held, 0.5)  # a reservation made before the restart settles after it
            assert (await second.spend("acme", now=T0)).day_usd == 0.9
        finally:
            await second.close()

    asyncio.run(main())


def test_bad_amounts_and_naive_clocks_are_refused(open_ledger):
    async def body(ledger: SpendLedger) -> None:
        with pytest.raises(ValueError, match="amount"):
            await ledger.reserve("acme", -0.1, DAILY_1, now=T0)
        with pytest.raises(ValueError, match="amount"):
            await ledger.reserve("acme", float("nan"), DAILY_1, now=T0)
        with pytest.raises(ValueError, match="timezone-aware"):
            await ledger.reserve("acme", 0.1, DAILY_1, now=datetime(2026, 3, 14, 12, 0))
        r = await ledger.reserve("acme", 0.1, DAILY_1, now=T0)
        with pytest.raises(ValueError, match="actual_usd"):
            await ledger.settle(r, -1.0)

    run(open_ledger, body)


def test_a_reservation_expired_for_longer_than_the_grace_is_forgotten(open_ledger):
    from gateway.budget.ledger import EXPIRED_GRACE_S

    much_later = T0 + timedelta(seconds=60 + EXPIRED_GRACE_S + 1)

    async def main() -> None:
        ledger = open_ledger(reservation_ttl_s=60)
        try:
            crashed = await ledger.reserve("acme", 0.8, DAILY_1, now=T0)
            await ledger.reserve("acme", 0.1, DAILY_1, now=much_later)  # purges what it finds long expired
            await ledger.settle(crashed, 0.8)  # too late to be told apart from a duplicate: ignored
            assert (await ledger.spend("acme", now=T0)).day_usd == 0.0
        finally:
            await ledger.close()

    asyncio.run(main())


def test_cancelled_callers_neither_leak_a_hold_nor_lose_a_settle(open_ledger):
    async def client_gone(call: Awaitable[object]) -> None:
        # Like a request task in an anyio scope that was cancelled when its client disconnected: the
        # first await inside the ledger call that really suspends raises CancelledError.
        current = asyncio.current_task()
        assert current is not None
        current.cancel()
        await call

    async def main() -> None:
        first = open_ledger()
        kept = await first.reserve("acme", 0.5, DAILY_1, now=T0)
        await first.close()

        ledger = open_ledger()  # fresh: its first Redis command must connect, a real suspension point
        settling = asyncio.create_task(client_gone(ledger.settle(kept, 0.4)))
        reserving = asyncio.create_task(client_gone(ledger.reserve("acme", 0.3, DAILY_1, now=T0)))
        outcomes = await asyncio.gather(settling, reserving, return_exceptions=True)
        assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
        await ledger.close()  # lets what the ledger still owes finish

        reopened = open_ledger()
        try:
            snap = await reopened.spend("acme", now=T0)
            assert (snap.day_committed_usd, snap.day_reserved_usd) == (0.4, 0.0)
        finally:
            await reopened.close()

    asyncio.run(main())
