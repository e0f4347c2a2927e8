"""Spans reach a real OTLP backend (Arize Phoenix on loopback) with their parent/child structure intact."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI, Request
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind

from gateway.tracing import (
    TracingConfig,
    genai_request_attributes,
    genai_response_attributes,
    inject_headers,
    instrument_app,
    setup_tracing,
    span_name,
)
from gateway.tracing.setup import Tracing
from support.otlp_backend import Backend

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def backend(otlp_backend: Backend) -> Backend:
    return otlp_backend


def test_spans_exported_by_the_sdk_come_back_with_their_structure(backend: Backend) -> None:
    provider = TracerProvider(resource=Resource({"service.name": "roundtrip"}), shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=backend.traces_url, timeout=5)))
    tracer = provider.get_tracer("roundtrip")
    with (
        tracer.start_as_current_span("parent", attributes={"n": 3, "tags": ["a", "b"]}) as parent,
        tracer.start_as_current_span("child", attributes={"ratio": 0.5, "ok": True}) as child,
    ):
        pass
    provider.shutdown()  # flushes the batch

    trace_id = format(parent.get_span_context().trace_id, "032x")
    spans = {s["name"]: s for s in backend.find_spans(trace_id, min_count=2)}
    assert set(spans) == {"parent", "child"}
    assert spans["parent"]["parent_span_id"] is None
    assert spans["parent"]["span_id"] == format(parent.get_span_context().span_id, "016x")
    assert spans["child"]["parent_span_id"] == spans["parent"]["span_id"]
    assert spans["child"]["span_id"] == format(child.get_span_context().span_id, "016x")
    assert spans["parent"]["attributes"]["n"] == 3
    assert spans["parent"]["attributes"]["tags"] == ["a", "b"]
    assert spans["child"]["attributes"]["ratio"] == 0.5 and spans["child"]["attributes"]["ok"] is True


def _upstream_app(tracing: Tracing) -> FastAPI:
    """Stands in for vLLM: a second service whose server span must join the gateway's trace."""
    app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> dict[str, object]:
        body: dict[str, object] = await request.json()
        return {"id": "cmpl-1", "model": body["model"], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}

    instrument_app(app, tracing)
    return app


def _gateway_app(tracing: Tracing, upstream: FastAPI) -> FastAPI:
    app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> dict[str, object]:
        payload = await request.json()
        span = tracing.tracer.start_span(
            span_name("chat", payload["model"]),
            kind=SpanKind.CLIENT,
            attributes=genai_request_attributes("chat", payload, server_address="upstream", server_port=80),
        )
        headers: dict[str, str] = {}
        inject_headers(headers, span=span)
        transport = httpx.ASGITransport(app=upstream)
        async with httpx.AsyncClient(transport=transport, base_url="http://upstream") as client:
            reply = (await client.post("/v1/chat/completions", json=payload, headers=headers)).json()
        span.set_attributes(
            genai_response_attributes(reply["id"], reply["model"], ["stop"], 5, 2, cost_usd=1e-5)
        )
        span.end()
        return dict(reply)

    instrument_app(app, tracing)
    return app


def test_a_gateway_request_and_its_upstream_call_form_one_trace(backend: Backend) -> None:
    def tracing_for(service: str) -> Tracing:
        config = TracingConfig(enabled=True, endpoint=backend.otlp_http_endpoint, service_name=service)
        return setup_tracing(config, service_version="test", environ={})

    gateway_tracing, upstream_tracing = tracing_for("modelgate"), tracing_for("vllm-sim")
    app = _gateway_app(gateway_tracing, _upstream_app(upstream_tracing))

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            payload = {"model": "m-1", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
            return await client.post("/v1/chat/completions", json=payload)

    response = asyncio.run(call())
    assert response.status_code == 200
    gateway_tracing.shutdown()
    upstream_tracing.shutdown()

    spans = backend.find_spans(response.headers["x-trace-id"], min_count=3)
    by_id = {s["span_id"]: s for s in spans}
    (root,) = [s for s in spans if s["parent_span_id"] is None]
    (client_span,) = [s for s in spans if s["name"] == "chat m-1"]
    (upstream_span,) = [s for s in spans if s is not root and s["name"] == "POST /v1/chat/completions"]
    assert root["name"] == "POST /v1/chat/completions"
    assert root["attributes"]["http.route"] == "/v1/chat/completions"
    assert client_span["parent_span_id"] == root["span_id"]
    assert upstream_span["parent_span_id"] == client_span["span_id"]
    assert by_id[upstream_span["parent_span_id"]] is client_span
    attrs = client_span["attributes"]
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "m-1"
    assert attrs["gen_ai.request.max_tokens"] == 4
    assert attrs["gen_ai.usage.input_tokens"] == 5 and attrs["gen_ai.usage.output_tokens"] == 2
    assert attrs["gen_ai.usage.cost"] == pytest.approx(1e-5)
