"""What the tenant store holds: tenants, their API keys (hashes only), and the store's errors.

    tenant = TenantRecord("acme", daily_usd=5.0, rpm=600)
    key, record = issue_key("acme", name="ci", lanes=frozenset({"llm"}), models=None, expires_at=None)
    # `key` (mg-…) is shown to the user once; only `record.key_sha256` is stored.

Errors (raised by every store):

    TenancyError
    ├── TenantExists       create of a name already taken            → 409
    ├── TenantNotFound     no tenant by that name                    → 404
    ├── KeyNotFound        no key by that id                         → 404
    └── StoreUnavailable   the store cannot be reached / stays locked → 503
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from gateway.auth import hash_key, new_api_key

__all__ = [
    "LANES",
    "TENANT_NAME",
    "ApiKeyRecord",
    "KeyNotFound",
    "Lane",
    "StoreSnapshot",
    "StoreUnavailable",
    "TenancyError",
    "TenantExists",
    "TenantNotFound",
    "TenantRecord",
    "issue_key",
    "new_key_id",
]

Lane = Literal["churn", "llm"]
LANES: frozenset[str] = frozenset({"churn", "llm"})
# The same rule as TenantSettings.name: a tenant name is a metric label value.
TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# The fields of a tenant an admin may set (POST / PATCH / `tenants set`).
LIMIT_FIELDS = ("daily_usd", "monthly_usd", "rpm", "tpm", "max_concurrency")


class TenancyError(Exception):
    """Base of every tenant-store error."""


class TenantExists(TenancyError):
    pass


class TenantNotFound(TenancyError):
    pass


class KeyNotFound(TenancyError):
    pass


class StoreUnavailable(TenancyError):
    pass


@dataclass(frozen=True, slots=True)
class TenantRecord:
    """A tenant and its limits; None means unlimited. `source` says whether modelgate.yaml declares it."""

    name: str
    daily_usd: float | None = None
    monthly_usd: float | None = None
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    source: Literal["config", "store"] = "store"
    created_at: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> TenantRecord:
        return cls(**json.loads(text))

    def with_limits(self, changes: dict[str, Any]) -> TenantRecord:
        return replace(self, **{k: v for k, v in changes.items() if k in LIMIT_FIELDS})


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """One API key of a tenant. `lanes` / `models` None = every lane / model; rpm/tpm None = no key limit.

    Keys imported from modelgate.yaml's `key_sha256` have the id `cfg-<tenant>`.
    """

    id: str
    tenant: str
    key_sha256: str
    name: str = ""
    created_at: float = 0.0
    expires_at: float | None = None
    revoked_at: float | None = None
    lanes: frozenset[str] | None = None
    models: frozenset[str] | None = None
    rpm: int | None = None
    tpm: int | None = None

    def to_json(self) -> str:
        doc = asdict(self)
        doc.pop("revoked_at")  # kept apart by the stores, so a revocation never rewrites the document
        for name in ("lanes", "models"):
            doc[name] = None if doc[name] is None else sorted(doc[name])
        return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes, revoked_at: float | None = None) -> ApiKeyRecord:
        doc = json.loads(text)
        for name in ("lanes", "models"):
            doc[name] = None if doc.get(name) is None else frozenset(doc[name])
        doc["revoked_at"] = revoked_at
        return cls(**doc)

    def public(self) -> dict[str, Any]:
        """The key as the admin API and `tenants list` show it: never the hash."""
        return {
            "object": "api_key",
            "id": self.id,
            "tenant": self.tenant,
            "name": self.name,
            "created_at": int(self.created_at),
            "expires_at": None if self.expires_at is None else int(self.expires_at),
            "revoked_at": None if self.revoked_at is None else int(self.revoked_at),
            "lanes": None if self.lanes is None else sorted(self.lanes),
            "models": None if self.models is None else sorted(self.models),
            "rpm": self.rpm,
            "tpm": self.tpm,
        }


@dataclass(frozen=True, slots=True)
class StoreSnapshot:
    """Everything the store holds at `version`; the version grows with every change."""

    version: int
    tenants: dict[str, TenantRecord]
    keys: dict[str, ApiKeyRecord]


def new_key_id() -> str:
    return "key_" + os.urandom(8).hex()


def issue_key(
    tenant: str,
    *,
    now: float,
    name: str = "",
    expires_at: float | None = None,
    lanes: frozenset[str] | None = None,
    models: frozenset[str] | None = None,
    rpm: int | None = None,
    tpm: int | None = None,
) -> tuple[str, ApiKeyRecord]:
    """A fresh key and the record to store; the plain key exists only in the return value."""
    key = new_api_key()
    record = ApiKeyRecord(
        id=new_key_id(),
        tenant=tenant,
        key_sha256=hash_key(key),
        name=name,
        created_at=now,
        expires_at=expires_at,
        lanes=lanes,
        models=models,
        rpm=rpm,
        tpm=tpm,
    )
    return key, record
