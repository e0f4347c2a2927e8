"""API keys → tenants, from a snapshot of the shared tenant store that every replica keeps fresh.

    directory = LiveDirectory(store, metrics, dev_key=settings.development_key)
    await directory.start(stack)              # first load, then a version poll every refresh_interval_s
    tenant = directory.authenticate("Bearer mg-…", lane="llm")   # raises AuthenticationFailed / 403s

Authentication is a dict lookup in memory (no I/O on the request path). The lookup is keyed by the SHA-256
of the presented key: its timing can only tell an attacker about the hash of their own guess, never about a
stored key, so the constant-time walk of every entry the first version did is not needed.

Propagation: a replica polls the store's version every `refresh_interval_s` (default 0.25 s, at most 1 s) and
reloads the whole snapshot when it moved, so a new key or a revocation made on any replica, or by
`modelgate tenants` against the store, is in force everywhere within that interval plus one read.
If the store cannot be read, the last snapshot stays in force and the failure is logged once per outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

from gateway.auth import DEV_TENANT, KeyGrant, Tenant, hash_key
from gateway.errors import AuthenticationFailed, LaneNotAllowed, ModelNotAllowed
from gateway.metrics import GatewayMetrics
from gateway.tenancy.records import StoreSnapshot, TenancyError
from gateway.tenancy.store import TenantStore

__all__ = ["LiveDirectory", "lane_of_path"]

log = logging.getLogger(__name__)

_BEARER = {"www-authenticate": "Bearer"}


def lane_of_path(path: str) -> str:
    """The lane a route belongs to, for key scopes: churn routes, and everything else under /v1 is LLM."""
    return "churn" if path.startswith("/v1/churn/") else "llm"


@dataclass(frozen=True, slots=True)
class _Entry:
    tenant: Tenant  # carries the key's grant
    expires_at: float | None
    revoked: bool


def _build(snapshot: StoreSnapshot, dev_key: str | None) -> tuple[dict[bytes, _Entry], dict[str, Tenant]]:
    tenants = {
        name: Tenant(name, t.daily_usd, t.monthly_usd, t.rpm, t.tpm, t.max_concurrency)
        for name, t in snapshot.tenants.items()
    }
    entries: dict[bytes, _Entry] = {}
    for key in snapshot.keys.values():
        base = tenants.get(key.tenant)
        if base is None:
            continue
        grant = KeyGrant(key.id, key.lanes, key.models, key.rpm, key.tpm)
        tenant = Tenant(
            base.name, base.daily_usd, base.monthly_usd, base.rpm, base.tpm, base.max_concurrency, grant
        )
        entries[bytes.fromhex(key.key_sha256)] = _Entry(tenant, key.expires_at, key.revoked_at is not None)
    if dev_key:
        dev = Tenant(DEV_TENANT)
        tenants[DEV_TENANT] = dev
        entries[bytes.fromhex(hash_key(dev_key))] = _Entry(dev, None, False)
    return entries, tenants


class LiveDirectory:
    def __init__(
        self,
        store: TenantStore,
        metrics: GatewayMetrics,
        *,
        dev_key: str | None = None,
        refresh_interval_s: float = 0.25,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.dev_key = dev_key
        self.refresh_interval_s = refresh_interval_s
        self.clock = clock
        self.version = -1
        self._entries: dict[bytes, _Entry] = {}
        self.tenants: dict[str, Tenant] = {}
        self._listeners: list[Callable[[dict[str, Tenant]], None]] = []
        self._failing = False
        self._setup: Callable[[], Awaitable[object]] | None = None

    def on_change(self, listener: Callable[[dict[str, Tenant]], None]) -> None:
        """Call `listener(tenants)` after every reload (metric label sets, spend gauges)."""
        self._listeners.append(listener)
        listener(self.tenants)

    def apply(self, snapshot: StoreSnapshot) -> None:
        self._entries, self.tenants = _build(snapshot, self.dev_key)
        self.version = snapshot.version
        for listener in self._listeners:
            listener(self.tenants)

    async def refresh(self) -> bool:
        """Reload if the store changed; True when it did. Store errors propagate (start-up wants them)."""
        if await self.store.version() == self.version:
            return False
        self.apply(await self.store.snapshot())
        return True

    async def start(
        self,
        stack: AsyncExitStack,
        *,
        setup: Callable[[], Awaitable[object]] | None = None,
        fallback: StoreSnapshot | None = None,
    ) -> None:
        """Run `setup` (the config import), load, and poll from then on. If the store cannot be reached and
        a `fallback` is given (modelgate.yaml's own tenants), serve that and keep trying in the background:
        an unreachable Redis must not stop a gateway from starting, nor lock out the configured tenants."""
        try:
            if setup is not None:
                await setup()
            await self.refresh()
        except TenancyError as exc:
            if fallback is None:
                raise
            log.error("tenant store unavailable at start-up, serving modelgate.yaml's tenants: %s", exc)
            self._setup = setup
            self._failing = True
            self.apply(fallback)
            self.version = -1  # the first successful read reloads
        task = asyncio.create_task(self._loop(), name="tenant-refresh")

        async def stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        stack.push_async_callback(stop)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_interval_s)
            try:
                if self._setup is not None:
                    await self._setup()
                    self._setup = None
                await self.refresh()
            except TenancyError as exc:
                if not self._failing:
                    log.warning("tenant store unreadable, serving the last snapshot: %s", exc)
                self._failing = True
            else:
                if self._failing:
                    log.warning("tenant store readable again")
                self._failing = False

    # --- the request path ----------------------------------------------------------------------------

    def _fail(self, reason: str, message: str) -> AuthenticationFailed:
        self.metrics.auth_failures.labels(reason).inc()
        return AuthenticationFailed(message, headers=_BEARER)

    def authenticate(self, authorization: str | None, *, lane: str | None = None) -> Tenant:
        """The tenant behind a `Bearer` key, allowed on `lane` (when given). Raises 401 or 403."""
        if not authorization:
            raise self._fail("missing", "missing API key: send 'Authorization: Bearer <key>'")
        scheme, _, key = authorization.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise self._fail("malformed", "malformed Authorization header: expected 'Bearer <key>'")
        entry = self._entries.get(hashlib.sha256(key.encode()).digest())
        if entry is None:
            raise self._fail("unknown", "invalid API key")
        if entry.revoked:
            raise self._fail("revoked", "invalid API key: this key was revoked")
        if entry.expires_at is not None and self.clock() >= entry.expires_at:
            raise self._fail("expired", "invalid API key: this key has expired")
        tenant = entry.tenant
        if lane is not None:
            self.check_lane(tenant, lane)
        return tenant

    def check_lane(self, tenant: Tenant, lane: str) -> None:
        grant = tenant.key
        if grant is not None and grant.lanes is not None and lane not in grant.lanes:
            self.metrics.auth_failures.labels("lane_not_allowed").inc()
            raise LaneNotAllowed(
                f"this API key may not use the {lane} lane (allowed: {', '.join(sorted(grant.lanes))})"
            )

    def check_model(self, tenant: Tenant, model: str) -> None:
        grant = tenant.key
        if grant is not None and grant.models is not None and model not in grant.models:
            self.metrics.auth_failures.labels("model_not_allowed").inc()
            raise ModelNotAllowed(f"this API key may not call model {model!r}", param="model")

    def known(self, authorization: str | None) -> bool:
        """Whether the header carries a live tenant key (the admin API answers those 403, not 401)."""
        if not authorization:
            return False
        _, _, key = authorization.partition(" ")
        entry = self._entries.get(hashlib.sha256(key.strip().encode()).digest())
        return entry is not None and not entry.revoked
