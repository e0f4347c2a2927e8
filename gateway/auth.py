"""API keys → tenants. Only SHA-256 hashes of keys are stored; lookups compare in constant time.

directory = TenantDirectory.from_settings(settings)
tenant = directory.authenticate("Bearer mg-…")    # raises AuthenticationFailed
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.errors import AuthenticationFailed
from gateway.settings import Settings

__all__ = ["DEV_TENANT", "Tenant", "TenantDirectory", "hash_key", "new_api_key"]

DEV_TENANT = "dev"
KEY_PREFIX = "mg-"


@dataclass(frozen=True)
class Tenant:
    name: str
    daily_usd: float | None = None
    monthly_usd: float | None = None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    """A fresh key: `mg-` and 43 URL-safe characters (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


class TenantDirectory:
    def __init__(self, entries: Iterable[tuple[str, Tenant]]) -> None:
        # (digest, tenant): every lookup walks the whole list, so timing says nothing of which matched.
        self._entries = [(bytes.fromhex(h), t) for h, t in entries]
        self.tenants = {t.name: t for _, t in self._entries}

    @classmethod
    def from_settings(cls, settings: Settings) -> TenantDirectory:
        entries = [(t.key_sha256, Tenant(t.name, t.daily_usd, t.monthly_usd)) for t in settings.tenants]
        if settings.development_key and settings.mode == "development":
            entries.append((hash_key(settings.development_key), Tenant(DEV_TENANT)))
        return cls(entries)

    def authenticate(self, authorization: str | None) -> Tenant:
        if not authorization:
            raise AuthenticationFailed(
                "missing API key: send 'Authorization: Bearer <key>'", headers={"www-authenticate": "Bearer"}
            )
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise AuthenticationFailed(
                "malformed Authorization header: expected 'Bearer <key>'",
                headers={"www-authenticate": "Bearer"},
            )
        digest = hashlib.sha256(key.strip().encode()).digest()
        found: Tenant | None = None
        for stored, tenant in self._entries:
            if hmac.compare_digest(stored, digest):
                found = tenant
        if found is None:
            raise AuthenticationFailed("invalid API key", headers={"www-authenticate": "Bearer"})
        return found
