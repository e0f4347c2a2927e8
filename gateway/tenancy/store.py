"""The `TenantStore` Protocol: tenants and keys shared by every replica (SQLite or Redis).

Every change bumps one version number in the same atomic step, so a replica learns that something changed
with one cheap read (`version()`) and then reloads everything (`snapshot()`); tenant tables are small.
"""

from __future__ import annotations

from typing import Any, Protocol

from gateway.tenancy.records import ApiKeyRecord, StoreSnapshot, TenantRecord

__all__ = ["TenantStore"]


class TenantStore(Protocol):
    async def version(self) -> int:
        """A number that grows with every change; 0 for an empty, never-written store."""
        ...

    async def snapshot(self) -> StoreSnapshot:
        """Every tenant and key (revoked keys included, with `revoked_at`), read consistently."""
        ...

    async def create_tenant(self, tenant: TenantRecord) -> None:
        """Raise TenantExists when the name is taken."""
        ...

    async def put_tenant(self, tenant: TenantRecord) -> None:
        """Create or replace (used by the config import)."""
        ...

    async def update_tenant(self, name: str, changes: dict[str, Any]) -> TenantRecord:
        """Set the given limit fields (None clears one); raise TenantNotFound."""
        ...

    async def delete_tenant(self, name: str) -> None:
        """Remove the tenant and all its keys; raise TenantNotFound."""
        ...

    async def add_key(self, key: ApiKeyRecord, *, replace_id: bool = False) -> None:
        """Store a key of an existing tenant (TenantNotFound otherwise). `replace_id` overwrites a key with
        the same id (the config import rewriting `cfg-<tenant>`)."""
        ...

    async def revoke_key(self, key_id: str, *, now: float) -> ApiKeyRecord:
        """Mark the key revoked (idempotent: the first revocation time stays); raise KeyNotFound."""
        ...

    async def close(self) -> None: ...
