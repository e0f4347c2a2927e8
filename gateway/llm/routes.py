"""OpenAI-compatible routes: `/v1/chat/completions`, `/v1/completions`, `/v1/models`, `/v1/budget`.

Thin: parse the few fields that matter, reserve, call the upstream, relay or return, settle.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from datetime import UTC, datetime

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

from adapters.vllm.errors import UpstreamFailure, UpstreamTimeoutError
from gateway.auth import Tenant
from gateway.deps import ServicesDep, TenantDep, request_id_of, services_of, tenant_of
from gateway.errors import ServiceNotReady, UpstreamBadResponse
from gateway.llm.accounting import Usage, usage_from_response
from gateway.llm.protocol import Operation, parse_llm_request
from gateway.llm.relay import CLIENT_CLOSED, StreamRelay
from gateway.llm.service import LLMService
from gateway.llm.spend import budget_view
from gateway.services import Services
from gateway.tracing.context import current_trace_id

__all__ = ["install_llm_routes", "router"]

router = APIRouter()

_PATHS: dict[Operation, str] = {"chat": "/chat/completions", "text_completion": "/completions"}


def _llm(services: Services) -> LLMService:
    if services.llm is None:
        raise ServiceNotReady("the LLM lane is not configured (llm.upstream_url)")
    return services.llm


async def _complete(
    request: Request, services: Services, tenant: Tenant, request_id: str, op: Operation
) -> Response:
    svc = _llm(services)
    req = parse_llm_request(await request.body(), op)
    call = await svc.begin(req, tenant, request_id, current_trace_id())
    headers = svc.upstream_headers(call)
    path = _PATHS[op]
    upstream_body = req.upstream_body(svc.settings.llm.max_tokens_cap)
    try:
        if req.stream:
            stack = AsyncExitStack()
            try:
                async with asyncio.timeout(svc.settings.llm.first_token_timeout_s):
                    lines = await stack.enter_async_context(svc.upstream.stream(path, upstream_body, headers))
            except BaseException:
                await stack.aclose()
                raise
            return StreamRelay(svc, call, stack, lines)
        async with asyncio.timeout(svc.settings.llm.total_timeout_s):
            body = await svc.upstream.post_json(path, upstream_body, headers)
    except TimeoutError:
        failure: UpstreamFailure = UpstreamTimeoutError("upstream did not answer in time")
        err = svc.translate(failure)
        await svc.finish(call, status=err.http_status, usage=None, error=failure)
        raise err from None
    except UpstreamFailure as exc:
        err = svc.translate(exc)
        await svc.finish(call, status=err.http_status, usage=None, error=exc)
        raise err from None
    except asyncio.CancelledError:
        # Shutdown cut the call short: hand the reservation back before going (nothing was delivered).
        await svc.finish(call, status=CLIENT_CLOSED, usage=None)
        raise
    try:
        doc = json.loads(body)
        choices = doc["choices"]
        finish_reasons = [
            str(c["finish_reason"]) for c in choices if isinstance(c, dict) and c.get("finish_reason")
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        failure = UpstreamFailure("upstream answered 200 with a body that is not an OpenAI response")
        err = UpstreamBadResponse(str(failure))
        await svc.finish(call, status=502, usage=None, error=failure)
        raise err from None
    usage = usage_from_response(doc)
    if usage is None:
        text = "".join(str(c.get("text") or (c.get("message") or {}).get("content") or "") for c in choices)
        usage = Usage(call.input_estimate, max(1, len(text) // 4) if text else 0, estimated=True)
    output_text = None
    if svc.keeps_text and choices:
        first = choices[0]
        output_text = (
            first.get("text") if op == "text_completion" else (first.get("message") or {}).get("content")
        )
    await svc.finish(
        call,
        status=200,
        usage=usage,
        finish_reasons=finish_reasons,
        response_id=doc.get("id"),
        response_model=doc.get("model"),
        output_text=output_text,
    )
    rate_headers = call.rate_ticket.headers if call.rate_ticket is not None else None
    return Response(body, media_type="application/json", headers=rate_headers)


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


def install_llm_routes(app: FastAPI) -> None:
    """Add the OpenAI-compatible routes: the two hot ones directly, the rest through the FastAPI router."""
    app.router.routes.append(_TemplateRoute("/v1/chat/completions", chat_completions, methods=["POST"]))
    app.router.routes.append(_TemplateRoute("/v1/completions", completions, methods=["POST"]))
    app.include_router(router)


@router.get("/v1/models")
async def models(services: ServicesDep, tenant: TenantDep) -> Response:
    svc = _llm(services)
    try:
        body = await svc.models()
    except UpstreamFailure as exc:
        raise svc.translate(exc) from None
    return Response(body, media_type="application/json")


@router.get("/v1/budget")
async def budget(services: ServicesDep, tenant: TenantDep) -> Response:
    """The calling tenant's own spend and budget; there is no way to name another tenant."""
    svc = _llm(services)
    snap = await svc.spend.refresh(tenant)
    if snap is None:
        raise ServiceNotReady("spend ledger unavailable")
    view = budget_view(tenant, snap, svc.settings.budgets.soft_fraction, datetime.now(UTC))
    return Response(json.dumps(view), media_type="application/json")
