"""The embedded tenant store: one SQLite file (WAL), shared by the gateway and `modelgate tenants` commands.

    store = SqliteTenantStore(data_dir / "tenants.sqlite")
    await store.create_tenant(TenantRecord("acme", rpm=600))

Same threading and locking story as the budget ledger (gateway/budget/sqlite_store.py): the connection
lives on one `SerialThread`, every change is one `BEGIN IMMEDIATE` transaction that also bumps
`meta.version`, so a `modelgate tenants …` command in another process and the gateway never interleave,
and a running gateway sees the change at its next version poll.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from gateway.budget.serial_thread import SerialThread
from gateway.budget.sqlite_store import _enable_wal
from gateway.tenancy.records import (
    ApiKeyRecord,
    KeyNotFound,
    StoreSnapshot,
    StoreUnavailable,
    TenantExists,
    TenantNotFound,
    TenantRecord,
)

__all__ = ["SqliteTenantStore"]

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (name TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS api_keys (
    id         TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL,
    key_sha256 TEXT NOT NULL UNIQUE,
    doc        TEXT NOT NULL,
    revoked_at REAL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS api_keys_by_tenant ON api_keys (tenant);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (k, v) VALUES ('version', 0);
"""
_BUMP = "UPDATE meta SET v = v + 1 WHERE k = 'version'"


def _connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
    try:
        _enable_wal(conn, busy_timeout_s)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")
    except BaseException:
        conn.close()
        raise
    return conn


class SqliteTenantStore:
    """A `TenantStore` on one SQLite file."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self._thread = SerialThread("modelgate-tenants")
        self._closed = False
        try:
            self._conn = self._thread.run_blocking(_connect, self.path, busy_timeout_s)
        except sqlite3.Error as exc:
            self._thread.stop_blocking()
            raise StoreUnavailable(f"cannot open the tenant store {self.path}: {exc}") from exc

    async def _run(self, fn: Callable[..., _T], *args: object) -> _T:
        if self._closed:
            raise StoreUnavailable("the tenant store is closed")
        try:
            return await self._thread.call(fn, *args)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"tenant store {self.path}: {exc}") from exc

    def _write(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run `fn` in one write transaction that also bumps the version (on the store's thread)."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
            conn.execute(_BUMP)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result

    # --- reads ---------------------------------------------------------------------------------------

    def _version_sync(self) -> int:
        return int(self._conn.execute("SELECT v FROM meta WHERE k = 'version'").fetchone()[0])

    def _snapshot_sync(self) -> StoreSnapshot:
        conn = self._conn
        conn.execute("BEGIN")  # one read transaction: the version matches the rows read
        try:
            version = self._version_sync()
            tenants = {n: TenantRecord.from_json(d) for n, d in conn.execute("SELECT name, doc FROM tenants")}
            keys = {
                i: ApiKeyRecord.from_json(d, r)
                for i, d, r in conn.execute("SELECT id, doc, revoked_at FROM api_keys")
            }
        finally:
            conn.execute("COMMIT")
        return StoreSnapshot(version, tenants, keys)

    async def version(self) -> int:
        return await self._run(self._version_sync)

    async def snapshot(self) -> StoreSnapshot:
        return await self._run(self._snapshot_sync)

    # --- writes --------------------------------------------------------------------------------------

    async def create_tenant(self, tenant: TenantRecord) -> None:
        def op(conn: sqlite3.Connection) -> None:
            try:
                conn.execute("INSERT INTO tenants (name, doc) VALUES (?, ?)", (tenant.name, tenant.to_json()))
            except sqlite3.IntegrityError:
                raise TenantExists(f"tenant {tenant.name!r} already exists") from None

        await self._run(self._write, op)

    async def put_tenant(self, tenant: TenantRecord) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO tenants (name, doc) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET doc = excluded.doc",
                (tenant.name, tenant.to_json()),
            )

        await self._run(self._write, op)

    async def update_tenant(self, name: str, changes: dict[str, Any]) -> TenantRecord:
        def op(conn: sqlite3.Connection) -> TenantRecord:
            row = conn.execute("SELECT doc FROM tenants WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise TenantNotFound(f"no tenant named {name!r}")
            updated = TenantRecord.from_json(row[0]).with_limits(changes)
            conn.execute("UPDATE tenants SET doc = ? WHERE name = ?", (updated.to_json(), name))
            return updated

        return await self._run(self._write, op)

    async def delete_tenant(self, name: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            if conn.execute("DELETE FROM tenants WHERE name = ?", (name,)).rowcount == 0:
                raise TenantNotFound(f"no tenant named {name!r}")
            conn.execute("DELETE FROM api_keys WHERE tenant = ?", (name,))

        await self._run(self._write, op)

    async def add_key(self, key: ApiKeyRecord, *, replace_id: bool = False) -> None:
        def op(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM tenants WHERE name = ?", (key.tenant,)).fetchone() is None:
                raise TenantNotFound(f"no tenant named {key.tenant!r}")
            if replace_id:
                conn.execute("DELETE FROM api_keys WHERE id = ?", (key.id,))
            conn.execute(
                "INSERT INTO api_keys (id, tenant, key_sha256, doc) VALUES (?, ?, ?, ?)",
                (key.id, key.tenant, key.key_sha256, key.to_json()),
            )

        await self._run(self._write, op)

    async def revoke_key(self, key_id: str, *, now: float) -> ApiKeyRecord:
        def op(conn: sqlite3.Connection) -> ApiKeyRecord:
            conn.execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", (now, key_id)
            )
            row = conn.execute("SELECT doc, revoked_at FROM api_keys WHERE id = ?", (key_id,)).fetchone()
            if row is None:
                raise KeyNotFound(f"no API key with id {key_id!r}")
            return ApiKeyRecord.from_json(row[0], row[1])

        return await self._run(self._write, op)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._thread.post(self._conn.close)
        await self._thread.stop()
