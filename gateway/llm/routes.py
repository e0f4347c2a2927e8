"""OpenAI-compatible routes: `/v1/chat/completions`, `/v1/completions`, `/v1/models`, `/v1/budget`.

Thin: parse the few fields that matter, reserve, call the upstream, relay or return, settle.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

from adapters.vllm.errors import UpstreamFailure
from gateway.auth import Tenant
from gateway.deps import (
    ServicesDep,
    TenantDep,
    client_request_id_of,
    request_id_of,
    services_of,
    tenant_of,
)
from gateway.errors import BudgetUnavailable, GatewayError, ServiceNotReady
from gateway.llm.admission import Call
from gateway.llm.body import check_content_type
from gateway.llm.complete import call_until_disconnect, complete_once
from gateway.llm.outcome import CLIENT_CLOSED, Outcome
from gateway.llm.relay import StreamRelay
from gateway.llm.salt import tenant_cache_salt
from gateway.llm.service import LLMService
from gateway.llm.spend import budget_view
from gateway.llm.upstream_errors import to_gateway_error
from gateway.llm.wire import parse_llm_request
from gateway.services import Services
from gateway.tracing.context import current_trace_id, inject_headers
from gateway.tracing.genai import Operation

__all__ = ["install_llm_routes", "router"]

router = APIRouter()

_PATHS: dict[Operation, str] = {"chat": "/chat/completions", "text_completion": "/completions"}


def _llm(services: Services) -> LLMService:
    if services.llm is None:
        raise ServiceNotReady("the LLM lane is not configured (llm.upstream_url or llm.upstreams)")
    return services.llm


async def _complete(
    request: Request, services: Services, tenant: Tenant, request_id: str, op: Operation
) -> Response:
    svc = _llm(services)
    check_content_type(request.scope["headers"])
    req = parse_llm_request(await request.body(), op, svc.policy, svc.limits)
    llm = svc.settings.llm
    upstream_body = req.upstream_body(cache_salt=tenant_cache_salt(llm, tenant.name, req.payload))
    path = _PATHS[op]
    call = await svc.admit(req, tenant, request_id, current_trace_id(), client_request_id_of(request))
    # From here on every way out records exactly one outcome for `call`.
    headers = {"x-request-id": call.request_id}
    # W3C traceparent with the client span as parent, so vLLM's own span joins this trace.
    inject_headers(headers, span=call.span)
    if req.stream:
        return await _open_stream(svc, call, path, upstream_body, headers)
    try:
        outcome = await call_until_disconnect(
            complete_once(svc.route, call, path, upstream_body, headers, llm.total_timeout_s, svc.keeps_text),
            request.scope,
            request.receive,
        )
    except asyncio.CancelledError:
        # Shutdown cut the call short: hand the reservation back before going (nothing was reported).
        await svc.recorder.record(call, Outcome(status=CLIENT_CLOSED))
        raise
    await svc.recorder.record(call, outcome)
    if outcome.status == CLIENT_CLOSED:
        return Response(status_code=CLIENT_CLOSED)
    if outcome.error is not None:
        raise outcome.error if isinstance(outcome.error, GatewayError) else to_gateway_error(outcome.error)
    assert outcome.body is not None
    rate_headers = call.rate_ticket.headers if call.rate_ticket is not None else None
    return Response(outcome.body, media_type="application/json", headers=rate_headers)


async def _open_stream(
    svc: LLMService, call: Call, path: str, body: bytes, headers: dict[str, str]
) -> Response:
    """Open the upstream stream on a replica, up to its first line (retried on another replica while
    nothing reached the client; gateway/llm/upstream_call.py), and hand it to the relay."""
    llm = svc.settings.llm
    started = time.perf_counter()
    failure: UpstreamFailure
    try:
        lease, stack, batches = await svc.route.open_stream(
            call.request, path, body, headers, llm.first_byte_timeout_s
        )
    except UpstreamFailure as exc:
        failure = exc
    except BaseException:
        await svc.recorder.record(call, Outcome(status=CLIENT_CLOSED))
        raise
    else:
        return StreamRelay(
            svc.recorder,
            call,
            stack,
            batches,
            total_timeout_s=llm.total_timeout_s,
            send_timeout_s=llm.client_send_timeout_s,
            keep_text=svc.keeps_text,
            lease=lease,
            started=started,
        )
    err = to_gateway_error(failure)
    await svc.recorder.record(call, Outcome(status=err.http_status, error=failure))
    raise err from None


# The two hot routes are plain Starlette routes: FastAPI's request handling and dependency solving cost
# ~15 % of an LLM request's CPU, and these routes read their body themselves anyway (the OpenAI request
# is passed through, not modelled).


async def chat_completions(request: Request) -> Response:
    return await _complete(request, services_of(request), tenant_of(request), request_id_of(request), "chat")


async def completions(request: Request) -> Response:
    return await _complete(
        request, services_of(request), tenant_of(request), request_id_of(request), "text_completion"
    )


class _TemplateRoute(Route):
    """A Starlette route that, like FastAPI's own, puts itself in the scope when it matches: the metrics
    and tracing middleware label requests by `scope["route"].path`, and FastAPI's router does not set it
    for plain routes."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def install_llm_routes(app: FastAPI) -> list[Route]:
    """Add the OpenAI-compatible routes: the two hot ones directly, the rest through the FastAPI router.
    Returns the hot ones, which `gateway.hot_routes.HotRoutes` serves ahead of the router.

    The hot ones go first in the route list: Starlette tries routes in order, and matching the docs
    routes and the included routers before them cost 16 µs a request (4 µs first; issue 18)."""
    hot = [
        _TemplateRoute("/v1/chat/completions", chat_completions, methods=["POST"]),
        _TemplateRoute("/v1/completions", completions, methods=["POST"]),
    ]
    app.router.routes[:0] = hot
    app.include_router(router)
    return list(hot)


@router.get("/v1/models")
async def models(services: ServicesDep, tenant: TenantDep) -> Response:
    svc = _llm(services)
    try:
        body = await svc.models()
    except UpstreamFailure as exc:
        raise to_gateway_error(exc) from None
    return Response(body, media_type="application/json")


@router.get("/v1/budget")
async def budget(services: ServicesDep, tenant: TenantDep) -> Response:
    """The calling tenant's own spend and budget; there is no way to name another tenant."""
    svc = _llm(services)
    snap = await svc.spend.refresh(tenant)
    if snap is None:
        raise BudgetUnavailable("the spend ledger is unavailable; retry shortly")
    view = budget_view(tenant, snap, svc.settings.budgets.soft_fraction, datetime.now(UTC))
    return Response(json.dumps(view), media_type="application/json")
