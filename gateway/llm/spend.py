"""Per-tenant spend and budget gauges, and the `GET /v1/budget` view, from the shared ledger.

The ledger is the truth (SQLite or Redis, shared by replicas); this keeps a snapshot per tenant that a
scrape reads without I/O. It refreshes every `interval_s` (not per request: that would add a ledger read
to every request's CPU cost) and whenever a tenant reads `GET /v1/budget`, so spend from
other replicas and a window that rolled over at UTC midnight show up on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.auth import Tenant
from gateway.budget.ledger import SpendLedger, SpendSnapshot
from gateway.budget.windows import window_ends
from gateway.metrics import GatewayMetrics

__all__ = ["SpendTracker", "budget_view"]

log = logging.getLogger(__name__)


class SpendTracker(Collector):
    def __init__(
        self,
        ledger: SpendLedger,
        metrics: GatewayMetrics,
        tenants: list[Tenant],
        *,
        soft_fraction: float,
        interval_s: float = 5.0,
    ) -> None:
        self.ledger = ledger
        self.metrics = metrics
        self.soft_fraction = soft_fraction
        self.tenants = tenants
        self.interval_s = interval_s
        self.snapshots: dict[str, SpendSnapshot] = {}

    async def start(self, stack: AsyncExitStack) -> None:
        self.metrics.registry.register(self)
        stack.callback(self.metrics.registry.unregister, self)
        # The first refresh runs in the loop, not here: an unreachable ledger (Redis down) must not hold up
        # start-up or the churn lane.
        task = asyncio.create_task(self._loop(), name="spend-refresh")

        async def stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        stack.push_async_callback(stop)

    async def _loop(self) -> None:
        while True:
            for tenant in self.tenants:
                await self.refresh(tenant)
            await asyncio.sleep(self.interval_s)

    async def refresh(self, tenant: Tenant) -> SpendSnapshot | None:
        try:
            snap = await self.ledger.spend(tenant.name, now=datetime.now(UTC))
        except Exception as exc:  # a ledger hiccup must not fail the request that triggered the refresh
            log.warning("spend refresh for %s failed: %s", tenant.name, exc)
            return None
        self.snapshots[tenant.name] = snap
        return snap

    def collect(self) -> Iterator[Metric]:
        spend = GaugeMetricFamily(
            "modelgate_tenant_spend_usd",
            "Spend in the current UTC window, including reservations of requests in flight.",
            labels=["tenant", "window"],
        )
        budget = GaugeMetricFamily(
            "modelgate_tenant_budget_usd", "Hard budget of the window.", labels=["tenant", "window"]
        )
        soft = GaugeMetricFamily(
            "modelgate_tenant_budget_soft_limit_usd",
            "Soft limit (budgets.soft_fraction × budget) of the window.",
            labels=["tenant", "window"],
        )
        for tenant in self.tenants:
            snap = self.snapshots.get(tenant.name)
            if snap is not None:
                spend.add_metric([tenant.name, "day"], snap.day_usd)
                spend.add_metric([tenant.name, "month"], snap.month_usd)
            for window, limit in (("day", tenant.daily_usd), ("month", tenant.monthly_usd)):
                if limit is not None:
                    budget.add_metric([tenant.name, window], limit)
                    soft.add_metric([tenant.name, window], limit * self.soft_fraction)
        yield from (spend, budget, soft)


def budget_view(
    tenant: Tenant, snap: SpendSnapshot, soft_fraction: float, now: datetime
) -> dict[str, object]:
    """The JSON a tenant reads about itself at `GET /v1/budget`."""
    day_end, month_end = window_ends(now)

    def window(
        key: str, used: float, committed: float, reserved: float, limit: float | None, ends: float
    ) -> dict[str, object]:
        return {
            "window": key,
            "spent_usd": round(committed, 9),
            "reserved_usd": round(reserved, 9),
            "budget_usd": limit,
            "soft_limit_usd": None if limit is None else round(limit * soft_fraction, 9),
            "remaining_usd": None if limit is None else round(max(limit - used, 0.0), 9),
            "resets_at": datetime.fromtimestamp(ends, UTC).isoformat(),
        }

    return {
        "object": "budget",
        "tenant": tenant.name,
        "day": window(
            snap.day_key,
            snap.day_usd,
            snap.day_committed_usd,
            snap.day_reserved_usd,
            tenant.daily_usd,
            day_end,
        ),
        "month": window(
            snap.month_key,
            snap.month_usd,
            snap.month_committed_usd,
            snap.month_reserved_usd,
            tenant.monthly_usd,
            month_end,
        ),
    }
