"""`/admin/v1/`: create, read, change and delete tenants; issue and revoke their keys.

Thin: validate the body (wire.py), call the tenant store, refresh this replica's directory at once (the
others follow within `tenancy.refresh_interval_s`), render (views.py). Store errors map to 404 / 409 / 503.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from gateway.admin.auth import AdminDep
from gateway.admin.views import spend_view, tenant_view
from gateway.admin.wire import KeyCreate, TenantCreate, TenantPatch
from gateway.auth import DEV_TENANT
from gateway.deps import ServicesDep
from gateway.errors import Conflict, InvalidRequest, NotFound, ServiceNotReady
from gateway.json_body import StrictJSONRoute
from gateway.services import Services
from gateway.tenancy.records import (
    KeyNotFound,
    StoreUnavailable,
    TenantExists,
    TenantNotFound,
    TenantRecord,
    issue_key,
)
from gateway.tenancy.store import TenantStore

__all__ = ["router"]

# Strict bodies, as on the churn routes: a duplicate key, deep nesting or a lone surrogate (which the
# tenant store could not write) is a 400 naming it.
router = APIRouter(prefix="/admin/v1", tags=["admin"], route_class=StrictJSONRoute)


def _store(services: Services) -> TenantStore:
    if services.store is None:
        raise ServiceNotReady("the tenant store is not open")
    return services.store


@asynccontextmanager
async def _translated(services: Services) -> AsyncIterator[None]:
    """Store errors as HTTP errors; after a change, this replica's directory reloads before answering."""
    try:
        yield
    except TenantExists as exc:
        raise Conflict(str(exc), param="name") from None
    except (TenantNotFound, KeyNotFound) as exc:
        raise NotFound(str(exc)) from None
    except StoreUnavailable as exc:
        raise ServiceNotReady(str(exc)) from None
    with contextlib.suppress(StoreUnavailable):  # the refresh loop catches up
        await services.tenants.refresh()


async def _spend(services: Services, name: str) -> dict[str, Any] | None:
    if services.llm is None:
        return None
    try:
        snap = await services.llm.admission.ledger.spend(name, now=datetime.now(UTC))
    except Exception:  # spend is informative here; a ledger hiccup must not fail the admin read
        return None
    return spend_view(snap)


async def _tenant_or_404(services: Services, name: str) -> tuple[TenantRecord, list[Any]]:
    try:
        snap = await _store(services).snapshot()
    except StoreUnavailable as exc:
        raise ServiceNotReady(str(exc)) from None
    tenant = snap.tenants.get(name)
    if tenant is None:
        raise NotFound(f"no tenant named {name!r}")
    return tenant, [k for k in snap.keys.values() if k.tenant == name]


@router.post("/tenants", status_code=201, summary="Create a tenant")
async def create_tenant(body: TenantCreate, services: ServicesDep, _: AdminDep) -> JSONResponse:
    if body.name == DEV_TENANT and services.settings.development_key:
        raise Conflict("'dev' is reserved for the development key", param="name")
    record = TenantRecord(
        body.name,
        body.daily_usd,
        body.monthly_usd,
        body.rpm,
        body.tpm,
        body.max_concurrency,
        created_at=time.time(),
    )
    async with _translated(services):
        await _store(services).create_tenant(record)
    return JSONResponse(tenant_view(record, []), status_code=201)


@router.get("/tenants", summary="List tenants")
async def list_tenants(services: ServicesDep, _: AdminDep) -> dict[str, Any]:
    try:
        snap = await _store(services).snapshot()
    except StoreUnavailable as exc:
        raise ServiceNotReady(str(exc)) from None
    data = [
        tenant_view(t, [k for k in snap.keys.values() if k.tenant == t.name])
        for t in sorted(snap.tenants.values(), key=lambda t: t.name)
    ]
    return {"object": "list", "data": data}


@router.get("/tenants/{name}", summary="A tenant, its keys, limits and spend")
async def get_tenant(name: str, services: ServicesDep, _: AdminDep) -> dict[str, Any]:
    tenant, keys = await _tenant_or_404(services, name)
    return tenant_view(tenant, keys, await _spend(services, name))


@router.patch("/tenants/{name}", summary="Change a tenant's limits")
async def patch_tenant(name: str, body: TenantPatch, services: ServicesDep, _: AdminDep) -> dict[str, Any]:
    changes = {field: getattr(body, field) for field in body.model_fields_set}
    if not changes:
        raise InvalidRequest("body: send at least one field to change", param="body")
    async with _translated(services):
        updated = await _store(services).update_tenant(name, changes)
    _current, keys = await _tenant_or_404(services, name)
    return tenant_view(updated, keys)


@router.delete("/tenants/{name}", status_code=204, summary="Delete a tenant and all its keys")
async def delete_tenant(name: str, services: ServicesDep, _: AdminDep) -> Response:
    async with _translated(services):
        await _store(services).delete_tenant(name)
    return Response(status_code=204)


@router.post("/tenants/{name}/keys", status_code=201, summary="Issue a key (shown once)")
async def create_key(name: str, body: KeyCreate, services: ServicesDep, _: AdminDep) -> JSONResponse:
    served = services.settings.llm.models
    for i, model in enumerate(body.models or []):
        if served and model not in served:
            raise InvalidRequest(f"models[{i}]: {model!r} is not served here", param=f"models[{i}]")
    key, record = issue_key(
        name,
        now=time.time(),
        name=body.name,
        expires_at=None if body.expires_at is None else body.expires_at.timestamp(),
        lanes=None if body.lanes is None else frozenset(body.lanes),
        models=None if body.models is None else frozenset(body.models),
        rpm=body.rpm,
        tpm=body.tpm,
    )
    async with _translated(services):
        await _store(services).add_key(record)
    return JSONResponse({**record.public(), "key": key}, status_code=201)


@router.delete("/keys/{key_id}", status_code=204, summary="Revoke a key (on every replica within 1 s)")
async def revoke_key(key_id: str, services: ServicesDep, _: AdminDep) -> Response:
    async with _translated(services):
        await _store(services).revoke_key(key_id, now=time.time())
    return Response(status_code=204)
