"""The JSON shapes the admin API answers with (OpenAI-style `object` fields, times in Unix seconds)."""

from __future__ import annotations

from typing import Any

from gateway.budget.ledger import SpendSnapshot
from gateway.tenancy.records import ApiKeyRecord, TenantRecord

__all__ = ["spend_view", "tenant_view"]


def spend_view(snap: SpendSnapshot | None) -> dict[str, Any] | None:
    if snap is None:
        return None
    return {
        "day": {
            "window": snap.day_key,
            "spent_usd": snap.day_committed_usd,
            "reserved_usd": snap.day_reserved_usd,
        },
        "month": {
            "window": snap.month_key,
            "spent_usd": snap.month_committed_usd,
            "reserved_usd": snap.month_reserved_usd,
        },
    }


def tenant_view(
    tenant: TenantRecord, keys: list[ApiKeyRecord], spend: dict[str, Any] | None = None
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "object": "tenant",
        "name": tenant.name,
        "daily_usd": tenant.daily_usd,
        "monthly_usd": tenant.monthly_usd,
        "rpm": tenant.rpm,
        "tpm": tenant.tpm,
        "max_concurrency": tenant.max_concurrency,
        "source": tenant.source,
        "created_at": int(tenant.created_at),
        "keys": [k.public() for k in sorted(keys, key=lambda k: k.created_at)],
    }
    if spend is not None:
        view["spend"] = spend
    return view
