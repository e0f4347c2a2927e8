"""Who may call the admin API: a key whose SHA-256 is in `admin.key_sha256` (`modelgate admin create-key`).

A tenant's key gets 403 `admin_key_required` (it is a valid key, just not for this); anything else gets
401 `invalid_api_key`. The digests are compared in constant time against every configured admin hash.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.deps import services_of
from gateway.errors import AdminKeyRequired, AuthenticationFailed

__all__ = ["AdminDep", "require_admin"]

# auto_error=False: we render our own OpenAI-shaped 401; the scheme still documents Bearer auth in OpenAPI.
_bearer = HTTPBearer(auto_error=False, description="An admin key (`modelgate admin create-key`).")


async def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    services = services_of(request)
    header = request.headers.get("authorization")
    if credentials is not None and credentials.credentials.strip():
        digest = hashlib.sha256(credentials.credentials.strip().encode()).digest()
        matched = False
        for stored in services.settings.admin.key_sha256:
            matched |= hmac.compare_digest(bytes.fromhex(stored), digest)
        if matched:
            return digest.hex()[:12]
        if services.tenants.known(header):
            services.metrics.auth_failures.labels("admin_tenant_key").inc()
            raise AdminKeyRequired("the admin API needs an admin key; this is a tenant's API key")
    services.metrics.auth_failures.labels("admin_unknown").inc()
    raise AuthenticationFailed("invalid admin key", headers={"www-authenticate": "Bearer"})


AdminDep = Annotated[str, Depends(require_admin)]
