"""Operational routes: `/healthz` (the process answers), `/readyz` (the model is loaded), `/metrics`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from starlette.responses import JSONResponse, Response

from gateway.deps import ServicesDep

__all__ = ["router"]

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz", include_in_schema=False)
async def readyz(services: ServicesDep) -> JSONResponse:
    churn = services.churn
    body = {
        "status": "ready" if churn is not None else "not_ready",
        "churn_model": {"loaded": churn is not None, "model_version": churn.version if churn else None},
    }
    if churn is None:
        body["churn_model"]["error"] = services.churn_error  # type: ignore[index]
    return JSONResponse(body, status_code=200 if churn is not None else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.registry
    # OpenMetrics when the scraper asks for it: only that format carries exemplars.
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(registry), media_type=content_type)
