"""Annotated FastAPI dependencies: `ServicesDep`, `TenantDep`, `RequestIdDep`, `ClientRequestIdDep`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.auth import Tenant
from gateway.services import Services
from gateway.tenancy.directory import lane_of_path
from gateway.tracing.context import set_tenant

__all__ = [
    "ClientRequestIdDep",
    "RequestIdDep",
    "ServicesDep",
    "TenantDep",
    "client_request_id_of",
    "request_id_of",
    "services_of",
    "tenant_of",
]


# Dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in its threadpool, and
# three thread round-trips per request cost more CPU than everything else a churn request does.


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def tenant_of(request: Request) -> Tenant:
    """The authenticated tenant, allowed on this route's lane (raises 401 / 403); tags the server span."""
    tenant = services_of(request).tenants.authenticate(
        request.headers.get("authorization"), lane=lane_of_path(request.scope["path"])
    )
    set_tenant(None, tenant.name)  # on the request's server span, when tracing is on
    return tenant


def request_id_of(request: Request) -> str:
    rid: str = request.scope.get("state", {}).get("request_id") or ""
    return rid


def client_request_id_of(request: Request) -> str | None:
    """The client's own request id (gateway/request_id.py), for logs and spans only."""
    cid: str | None = request.scope.get("state", {}).get("client_request_id")
    return cid


async def get_services(request: Request) -> Services:
    return services_of(request)


async def require_tenant(request: Request) -> Tenant:
    return tenant_of(request)


async def get_request_id(request: Request) -> str:
    return request_id_of(request)


async def get_client_request_id(request: Request) -> str | None:
    return client_request_id_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]
TenantDep = Annotated[Tenant, Depends(require_tenant)]
RequestIdDep = Annotated[str, Depends(get_request_id)]
ClientRequestIdDep = Annotated[str | None, Depends(get_client_request_id)]
