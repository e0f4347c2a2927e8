"""Bring the tenants written in `modelgate.yaml` into the tenant store (at start-up and on SIGHUP).

    changed = await import_config_tenants(store, settings.tenants, now=time.time())

For each YAML tenant the YAML is authoritative for what it writes: its limits are set, and its
`key_sha256` becomes the key `cfg-<name>` (replaced when the hash changes, so editing the YAML rotates
it). A `cfg-` key revoked through the admin API stays revoked while the YAML keeps the same hash. Tenants
and keys created in the store are never touched, and a tenant removed from the YAML stays in the store
until it is deleted there (`DELETE /admin/v1/tenants/{name}` or `modelgate tenants delete`). Only real
differences are written, so replicas starting together do not make each other reload for nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.settings import TenantSettings
from gateway.tenancy.records import ApiKeyRecord, StoreSnapshot, TenantRecord
from gateway.tenancy.store import TenantStore

__all__ = ["config_key_id", "config_snapshot", "import_config_tenants"]


def config_key_id(tenant: str) -> str:
    return f"cfg-{tenant}"


def _record(t: TenantSettings, created_at: float) -> TenantRecord:
    return TenantRecord(
        t.name,
        daily_usd=t.daily_usd,
        monthly_usd=t.monthly_usd,
        rpm=t.rpm,
        tpm=t.tpm,
        max_concurrency=t.max_concurrency,
        source="config",
        created_at=created_at,
    )


def config_snapshot(tenants: Sequence[TenantSettings], *, now: float) -> StoreSnapshot:
    """The YAML tenants alone, as a snapshot: what a gateway serves while the store is unreachable."""
    return StoreSnapshot(
        -1,
        {t.name: _record(t, now) for t in tenants},
        {
            config_key_id(t.name): ApiKeyRecord(config_key_id(t.name), t.name, t.key_sha256, created_at=now)
            for t in tenants
        },
    )


async def import_config_tenants(store: TenantStore, tenants: Sequence[TenantSettings], *, now: float) -> int:
    """Write the YAML tenants' differences into the store; return how many records changed."""
    snapshot = await store.snapshot()
    changed = 0
    for t in tenants:
        existing = snapshot.tenants.get(t.name)
        record = _record(t, existing.created_at if existing else now)
        if record != existing:
            await store.put_tenant(record)
            changed += 1
        kid = config_key_id(t.name)
        key = snapshot.keys.get(kid)
        if key is None or key.key_sha256 != t.key_sha256 or key.tenant != t.name:
            await store.add_key(
                ApiKeyRecord(kid, t.name, t.key_sha256, name="modelgate.yaml", created_at=now),
                replace_id=True,
            )
            changed += 1
    return changed
