"""Per-tenant `cache_salt`, so vLLM's prefix cache cannot tell one tenant's prompts to another by timing.

vLLM shares KV-cache blocks between requests with the same prefix; a tenant able to measure time to first
token could probe whether another tenant sent a given prompt. vLLM's `cache_salt` separates cache entries:
with `llm.tenant_cache_salt: true` every request carries HMAC-SHA256(secret, tenant) — combined with the
client's own `cache_salt` when it sent one, so a tenant can still partition its own traffic but never share
entries with another tenant. The secret is `llm.cache_salt_secret`; unset, a random one per process (set it
in a fleet, or a tenant's requests through two replicas never share the engine's cache).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache
from typing import Any

from gateway.settings import LLMSettings

__all__ = ["tenant_cache_salt"]


@lru_cache(maxsize=1)
def _process_secret() -> bytes:
    return os.urandom(32)


@lru_cache(maxsize=4096)
def _salt(secret: bytes, tenant: str, client_salt: str | None) -> str:
    message = tenant.encode() if client_salt is None else tenant.encode() + b"\0" + client_salt.encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()  # 43 characters, 256 bits


def tenant_cache_salt(llm: LLMSettings, tenant: str, payload: dict[str, Any]) -> str | None:
    """The `cache_salt` to forward for this tenant, or None to leave the body's own."""
    if not llm.tenant_cache_salt:
        return None
    secret = llm.cache_salt_secret.encode() if llm.cache_salt_secret else _process_secret()
    client = payload.get("cache_salt")
    return _salt(secret, tenant, client if isinstance(client, str) else None)
