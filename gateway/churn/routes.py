"""Churn routes: `POST /v1/churn/predict` and `POST /v1/churn/predict/batch` (docs/api.md).

The answers are built as `ChurnPrediction` / `ChurnBatchResponse` and serialized by pydantic directly
(`model_dump_json`), so OpenAPI shows the real response models while FastAPI does not validate the
answer a second time on this hot path.

`POST /v1/churn/predict` is also served by `gateway.hot_routes.HotRoutes` (`HOT_ROUTES`), past FastAPI's
dependency solving: `predict_endpoint` makes the FastAPI route's checks in the same order (content type
and strict JSON, then the key, then the model's validation as a 422 naming the field) and answers the
same; the FastAPI route stays for OpenAPI and an app under a root path.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.auth import Tenant
from gateway.churn.serving import ChurnServing
from gateway.churn.wire import ChurnBatchRequest, ChurnBatchResponse, ChurnPrediction, ChurnPredictRequest
from gateway.deps import (
    ClientRequestIdDep,
    RequestIdDep,
    ServicesDep,
    TenantDep,
    client_request_id_of,
    request_id_of,
    services_of,
    tenant_of,
)
from gateway.errors import InvalidRequest, ServiceNotReady
from gateway.json_body import StrictJSONRoute, check_json_content_type, parse_strict_json
from gateway.services import Services
from gateway.telemetry import churn_inference_span
from gateway.tracing.context import current_trace_id

__all__ = ["HOT_ROUTES", "predict_endpoint", "router"]

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
    return _predict(body, services, tenant, request_id, client_id)


async def predict_endpoint(request: Request) -> Response:
    """`POST /v1/churn/predict` without FastAPI's request handling and dependency solving: 0.26 → 0.14 ms
    of CPU a prediction, 1.8x the predictions a second (bench/README.md, issue 18)."""
    check_json_content_type(request.headers.get("content-type"))
    value = parse_strict_json(await request.body())
    services = services_of(request)
    tenant = tenant_of(request)
    body = _validated_body(value)
    return _predict(body, services, tenant, request_id_of(request), client_request_id_of(request))


HOT_ROUTES = [Route("/v1/churn/predict", predict_endpoint, methods=["POST"])]


def _validated_body(value: Any) -> ChurnPredictRequest:
    """The body as FastAPI validates a body model (`from_attributes`, errors located under `body`), so
    the 422s read the same (tests/gateway/test_hot_routes.py compares the two routes)."""
    try:
        return ChurnPredictRequest.model_validate(value, from_attributes=True)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors, body=value) from None


def _predict(
    body: ChurnPredictRequest, services: Services, tenant: Tenant, request_id: str, client_id: str | None
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
