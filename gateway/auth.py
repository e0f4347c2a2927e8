"""Who a request comes from: the `Tenant` (and the grant of its key), and how API keys are made and hashed.

Only SHA-256 hashes of keys are ever stored. Keys are looked up in gateway/tenancy/directory.py:

    key = new_api_key()          # mg-… shown to its owner once
    stored = hash_key(key)
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

__all__ = ["DEV_TENANT", "KeyGrant", "Tenant", "hash_key", "new_api_key"]

DEV_TENANT = "dev"
KEY_PREFIX = "mg-"


@dataclass(frozen=True, slots=True)
class KeyGrant:
    """What the presented API key may do: None = no restriction of that kind."""

    id: str
    lanes: frozenset[str] | None = None
    models: frozenset[str] | None = None
    rpm: int | None = None
    tpm: int | None = None


@dataclass(frozen=True)
class Tenant:
    """The authenticated caller: the tenant's limits, and the grant of the key it presented (if scoped)."""

    name: str
    daily_usd: float | None = None
    monthly_usd: float | None = None
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    key: KeyGrant | None = None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    """A fresh key: `mg-` and 43 URL-safe characters (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)
