"""The request span: route-template names, HTTP semconv attributes, x-trace-id, propagation, errors."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from gateway.tracing import (
    TracingConfig,
    current_trace_id,
    exemplar,
    inject_headers,
    instrument_app,
    set_tenant,
    setup_tracing,
)
from gateway.tracing.middleware import TRACE_ID_SCOPE_KEY, request_attributes
from gateway.tracing.passthrough import TraceContextPassthrough
from gateway.tracing.setup import Tracing

PARENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT_SPAN = "b7ad6b7169203331"
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def build_app(tracing: Tracing) -> FastAPI:
    # FastAPI's own telemetry stays off: it would follow the global provider, not ours.
    app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, object]:
        set_tenant(None, "acme")
        return {
            "item": item_id,
            "trace_id": current_trace_id(),
            "sampled_trace_id": current_trace_id(sampled_only=True),
            "exemplar": exemplar(),
        }

    @app.post("/upstream")
    async def upstream() -> dict[str, str]:
        headers: dict[str, str] = {}
        inject_headers(headers)
        return headers

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for _ in range(3):
                await asyncio.sleep(0.04)
                yield b"chunk\n"

        return StreamingResponse(body(), media_type="text/plain")

    @app.get("/unavailable")
    async def unavailable() -> JSONResponse:
        return JSONResponse({"error": "later"}, status_code=503)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaput")

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.exception_handler(Exception)
    async def on_error(request: Request, exc: Exception) -> PlainTextResponse:
        return PlainTextResponse(f"boom in trace {request.scope.get(TRACE_ID_SCOPE_KEY)}", status_code=500)

    instrument_app(app, tracing)
    return app


def traced(ratio: float = 1.0) -> tuple[Tracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    config = TracingConfig(enabled=True, sample_ratio=ratio)
    return setup_tracing(config, service_version="9.9.9", exporter=exporter, environ={}), exporter


def call(app: FastAPI, method: str, path: str, **kwargs: object) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.request(method, path, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(go())


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def test_server_span_is_named_after_the_route_and_carries_http_semconv() -> None:
    tracing, exporter = traced()
    response = call(build_app(tracing), "GET", "/items/7", headers={"user-agent": "probe/1.0"})
    assert response.status_code == 200
    span = only_span(exporter)
    assert span.name == "GET /items/{item_id}"
    assert span.kind is SpanKind.SERVER
    assert span.parent is None
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET",
        "url.path": "/items/7",
        "url.scheme": "http",
        "network.protocol.version": "1.1",
        "server.address": "testserver",
        "server.port": 80,
        "client.address": "127.0.0.1",
        "user_agent.original": "probe/1.0",
        "http.route": "/items/{item_id}",
        "http.response.status_code": 200,
        "modelgate.tenant": "acme",
    }
    assert span.status.status_code is StatusCode.UNSET
    trace_id = format(span.context.trace_id, "032x")
    body = response.json()
    # The id the client sees, the id the handler logs, and the exported span's id are one.
    assert response.headers["x-trace-id"] == body["trace_id"] == body["sampled_trace_id"] == trace_id
    assert body["exemplar"] == {"trace_id": trace_id, "span_id": format(span.context.span_id, "016x")}
    assert span.resource.attributes["service.version"] == "9.9.9"


def test_incoming_traceparent_is_continued_and_passed_upstream_with_baggage() -> None:
    tracing, exporter = traced()
    headers = {"traceparent": f"00-{PARENT_TRACE}-{PARENT_SPAN}-01", "baggage": "tenant.tier=gold"}
    response = call(build_app(tracing), "POST", "/upstream", headers=headers)
    span = only_span(exporter)
    assert format(span.context.trace_id, "032x") == PARENT_TRACE
    assert span.parent is not None and format(span.parent.span_id, "016x") == PARENT_SPAN
    assert response.headers["x-trace-id"] == PARENT_TRACE
    upstream = response.json()
    # The upstream's parent is our server span, not the client's.
    assert upstream["traceparent"] == f"00-{PARENT_TRACE}-{format(span.context.span_id, '016x')}-01"
    assert upstream["baggage"] == "tenant.tier=gold"


def test_ratio_zero_exports_nothing_but_still_propagates_trace_ids() -> None:
    tracing, exporter = traced(ratio=0.0)
    app = build_app(tracing)
    response = call(app, "GET", "/items/1")
    body = response.json()
    assert HEX32.match(response.headers["x-trace-id"])
    assert body["trace_id"] == response.headers["x-trace-id"]
    assert body["sampled_trace_id"] is None and body["exemplar"] is None
    upstream = call(app, "POST", "/upstream").json()
    version, trace_id, _, flags = upstream["traceparent"].split("-")
    assert version == "00" and HEX32.match(trace_id)
    assert int(flags, 16) & 0x01 == 0  # not sampled (the SDK may also set W3C level 2's random flag)
    assert exporter.get_finished_spans() == ()
    # ParentBased: a caller that sampled its trace is honoured even at ratio 0.
    call(app, "GET", "/items/2", headers={"traceparent": f"00-{PARENT_TRACE}-{PARENT_SPAN}-01"})
    assert format(only_span(exporter).context.trace_id, "032x") == PARENT_TRACE


def test_disabled_tracing_records_nothing_but_passes_the_callers_context_on() -> None:
    tracing = setup_tracing(TracingConfig(enabled=False), service_version="1", environ={})
    app = build_app(tracing)
    installed: list[object] = [m.cls for m in app.user_middleware]
    assert installed == [TraceContextPassthrough]
    client_parent = f"00-{PARENT_TRACE}-{PARENT_SPAN}-01"
    response = call(app, "GET", "/items/1", headers={"traceparent": client_parent})
    assert "x-trace-id" not in response.headers
    assert response.json()["trace_id"] == PARENT_TRACE  # log rows join the client's trace
    headers = {"traceparent": client_parent, "tracestate": "vendor=v1", "baggage": "tenant.tier=gold"}
    upstream = call(app, "POST", "/upstream", headers=headers).json()
    # Forwarded unchanged: the upstream's parent is the client's span (the gateway made none).
    assert upstream == headers
    # Without a caller's context, nothing is invented.
    assert call(app, "GET", "/items/1").json()["trace_id"] is None
    assert call(app, "POST", "/upstream").json() == {}
    tracing.shutdown()


def test_a_malformed_traceparent_with_tracing_off_is_ignored() -> None:
    tracing = setup_tracing(TracingConfig(enabled=False), service_version="1", environ={})
    response = call(build_app(tracing), "POST", "/upstream", headers={"traceparent": "00-zz-yy-01"})
    assert response.status_code == 200 and response.json() == {}


def test_streaming_response_is_timed_to_its_last_byte() -> None:
    tracing, exporter = traced()
    response = call(build_app(tracing), "GET", "/stream")
    assert response.text == "chunk\n" * 3
    span = only_span(exporter)
    assert span.name == "GET /stream"
    assert span.end_time is not None and span.start_time is not None
    assert (span.end_time - span.start_time) / 1e9 >= 0.11


def test_server_errors_mark_the_span() -> None:
    tracing, exporter = traced()
    app = build_app(tracing)
    assert call(app, "GET", "/unavailable").status_code == 503
    span = only_span(exporter)
    assert (span.attributes or {})["error.type"] == "503"
    assert span.status.status_code is StatusCode.ERROR
    exporter.clear()
    response = call(app, "GET", "/boom")
    assert response.status_code == 500
    span = only_span(exporter)
    # The 500 handler runs outside the tracing middleware; the id is on the scope for it.
    assert response.text == f"boom in trace {format(span.context.trace_id, '032x')}"
    assert span.name == "GET /boom"
    assert (span.attributes or {})["error.type"] == "RuntimeError"
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]


def test_client_errors_and_unrouted_paths_are_not_errors() -> None:
    tracing, exporter = traced()
    response = call(build_app(tracing), "GET", "/nowhere")
    assert response.status_code == 404
    span = only_span(exporter)
    assert span.name == "GET"  # no route matched: the method alone, never the raw path
    assert "http.route" not in (span.attributes or {})
    assert (span.attributes or {})["http.response.status_code"] == 404
    assert span.status.status_code is StatusCode.UNSET


def test_probes_are_not_traced() -> None:
    tracing, exporter = traced()
    response = call(build_app(tracing), "GET", "/healthz")
    assert response.status_code == 200 and "x-trace-id" not in response.headers
    assert exporter.get_finished_spans() == ()


@pytest.mark.parametrize(
    ("host", "server", "expected"),
    [
        (b"gw.example:8443", None, ("gw.example", 8443)),
        (b"[::1]:9000", None, ("::1", 9000)),
        (b"gw.example", None, ("gw.example", 443)),
        (None, ("10.0.0.5", 8080), ("10.0.0.5", 8080)),
    ],
)
def test_server_address_from_host_header_or_socket(
    host: bytes | None, server: tuple[str, int] | None, expected: tuple[str, int]
) -> None:
    headers = [(b"host", host)] if host else []
    scope: dict[str, Any] = {
        "type": "http",
        "method": "PATCHY",
        "path": "/x",
        "scheme": "https",
        "headers": headers,
    }
    if server:
        scope["server"] = server
    attrs = request_attributes(scope)
    assert (attrs["server.address"], attrs["server.port"]) == expected
    assert attrs["http.request.method"] == "_OTHER"
    assert attrs["http.request.method_original"] == "PATCHY"
