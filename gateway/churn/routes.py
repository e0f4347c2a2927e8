"""Churn routes: `POST /v1/churn/predict` and `POST /v1/churn/predict/batch` (docs/api.md).

The answers are built as `ChurnPrediction` / `ChurnBatchResponse` and serialized by pydantic directly
(`model_dump_json`), so OpenAPI shows the real response models while FastAPI does not validate the
answer a second time on this hot path.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from gateway.churn.serving import ChurnServing
from gateway.churn.wire import ChurnBatchRequest, ChurnBatchResponse, ChurnPrediction, ChurnPredictRequest
from gateway.deps import ClientRequestIdDep, RequestIdDep, ServicesDep, TenantDep
from gateway.errors import InvalidRequest, ServiceNotReady
from gateway.json_body import StrictJSONRoute
from gateway.services import Services
from gateway.telemetry import churn_inference_span
from gateway.tracing.context import current_trace_id

__all__ = ["router"]

# Strict bodies: duplicate keys, deep nesting, non-UTF-8 and non-JSON content types are 4xx, not 500.
router = APIRouter(route_class=StrictJSONRoute, tags=["churn"])


def _serving(services: Services) -> ChurnServing:
    if services.churn is None:
        raise ServiceNotReady(f"churn model not loaded: {services.churn_error or 'starting'}")
    return services.churn


def _json(model: ChurnPrediction | ChurnBatchResponse) -> Response:
    return Response(model.model_dump_json(), media_type="application/json")


@router.post("/v1/churn/predict", response_model=ChurnPrediction)
async def predict(
    body: ChurnPredictRequest,
    services: ServicesDep,
    tenant: TenantDep,
    request_id: RequestIdDep,
    client_id: ClientRequestIdDep,
) -> Response:
    serving = _serving(services)
    row = body.model_dump()
    with churn_inference_span(services.tracing, serving.version) as record:
        (scored,) = serving.predict(
            [row],
            tenant=tenant.name,
            request_id=request_id,
            trace_id=current_trace_id(),
            client_request_id=client_id,
        )
        record(scored.probability, scored.label)
    return _json(
        ChurnPrediction(
            churn_probability=scored.probability,
            prediction=scored.label,
            model_version=serving.version,
            request_id=request_id,
            customer_id=body.customer_id,
        )
    )


@router.post("/v1/churn/predict/batch", response_model=ChurnBatchResponse)
async def predict_batch(
    body: ChurnBatchRequest,
    services: ServicesDep,
    tenant: TenantDep,
    request_id: RequestIdDep,
    client_id: ClientRequestIdDep,
) -> Response:
    serving = _serving(services)
    limit = services.settings.churn.batch_limit
    if len(body.instances) > limit:
        raise InvalidRequest(
            f"instances: {len(body.instances)} instances is more than the limit of {limit}", param="instances"
        )
    rows = [inst.model_dump() for inst in body.instances]
    with churn_inference_span(services.tracing, serving.version, batch_size=len(rows)) as record:
        results = serving.predict(
            rows,
            tenant=tenant.name,
            request_id=request_id,
            trace_id=current_trace_id(),
            client_request_id=client_id,
        )
        if results:
            record(results[0].probability, results[0].label)
    return _json(
        ChurnBatchResponse(
            predictions=[
                ChurnPrediction(
                    churn_probability=r.probability,
                    prediction=r.label,
                    model_version=serving.version,
                    request_id=request_id,
                    customer_id=row["customer_id"],
                )
                for r, row in zip(results, rows, strict=True)
            ],
            model_version=serving.version,
            request_id=request_id,
        )
    )
