"""Operational routes: `/healthz` (the process answers), `/readyz` (what is and is not ready), `/metrics`.

`/readyz` names each part and, when one is not ready, a short reason from a fixed set — never a path, a
host or an exception's text (those go to the server log). The LLM fleet is reported (`llm_fleet`: healthy
replicas per model) but never makes the gateway unready: every gateway replica sees the same vLLM
replicas, so taking gateways out of a load balancer for it would only stop the churn lane too, while the
LLM lane already answers 503 per model (and LLMUpstreamDown pages).

`/metrics` is here only when it is not on its own listener (gateway/metrics_endpoint.py); with
`server.metrics_token_sha256` it asks for the token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CollectorRegistry
from starlette.responses import JSONResponse, Response

from gateway.deps import ServicesDep
from gateway.metrics_endpoint import UNAUTHORIZED, authorized, render_off_loop

__all__ = ["metrics_router", "router"]

router = APIRouter(tags=["operations"])
metrics_router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process answers")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get(
    "/readyz",
    summary="Whether each part is ready",
    responses={503: {"description": "a part is not ready; `checks` says which and why"}},
)
async def readyz(services: ServicesDep) -> JSONResponse:
    churn = services.churn
    checks: dict[str, dict[str, Any]] = {
        "churn_model": {"ready": churn is not None, "model_version": churn.version if churn else None}
    }
    if churn is None:
        checks["churn_model"]["reason"] = services.churn_error or "starting"
    ready = all(c["ready"] for c in checks.values())
    degraded: list[str] = []
    if services.llm is not None:
        router = services.llm.router
        healthy = {m: sum(r.health.healthy for r in router.serving(m)) for m in router.served_models()}
        fleet: dict[str, Any] = {"ready": all(healthy.values()), "healthy_replicas": healthy}
        if not fleet["ready"]:
            fleet["reason"] = "no_healthy_replica"
            degraded.append("llm_fleet")
        checks["llm_fleet"] = fleet
    body = {
        "status": ("degraded" if degraded else "ready") if ready else "not_ready",
        "not_ready": sorted(name for name, c in checks.items() if not c["ready"] and name not in degraded),
        "degraded": degraded,
        "checks": checks,
        # Kept from the first version of this route, which only knew the churn model.
        "churn_model": {"loaded": churn is not None, "model_version": churn.version if churn else None},
    }
    return JSONResponse(body, status_code=200 if ready else 503)


@metrics_router.get(
    "/metrics",
    summary="Prometheus exposition",
    responses={401: {"description": "server.metrics_token_sha256 is set and the bearer token is missing"}},
)
async def metrics(request: Request) -> Response:
    token = request.app.state.metrics_token_sha256
    if not authorized(request.headers.get("authorization"), token):
        return Response(
            UNAUTHORIZED,
            status_code=401,
            media_type="application/json",
            headers={"www-authenticate": "Bearer"},
        )
    registry: CollectorRegistry = request.app.state.registry
    body, content_type = await render_off_loop(registry, request.headers.get("accept", ""))
    return Response(body, media_type=content_type)
