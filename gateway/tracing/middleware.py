"""A server span per HTTP request: pure ASGI middleware (no BaseHTTPMiddleware, so streams are timed to
their last byte), following the stable HTTP server conventions
(https://opentelemetry.io/docs/specs/semconv/http/http-spans/#http-server).

- The caller's `traceparent` / `baggage` are honoured, so a client's trace continues through the gateway.
- The span is named `{method} {route template}` once routing has matched (`POST /v1/chat/completions`),
  never after the raw path, and carries `http.route`.
- Every traced response gets an `x-trace-id: <32 hex>` header, sampled or not, so a client can quote it.
- The span is current while the app runs: handlers add attributes or child spans to it, and a metrics
  middleware placed *inside* this one can read the trace id for exemplars.
- Telemetry never breaks a request: a failure inside the span bookkeeping is logged and the request goes on.

    instrument_app(app, tracing)     # after every other add_middleware, so this one is outermost
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from contextvars import Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util.types import AttributeValue
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.tracing.context import format_trace_id
from gateway.tracing.passthrough import TraceContextPassthrough
from gateway.tracing.setup import Tracing

__all__ = [
    "DEFAULT_EXCLUDED_PATHS",
    "TRACE_ID_HEADER",
    "TRACE_ID_SCOPE_KEY",
    "TracingMiddleware",
    "instrument_app",
    "request_attributes",
    "route_template",
]

TRACE_ID_HEADER = "x-trace-id"
TRACE_ID_SCOPE_KEY = "modelgate.trace_id"
# Scrapes and probes: frequent, uninteresting, and they would drown the traces that matter.
DEFAULT_EXCLUDED_PATHS: frozenset[str] = frozenset({"/metrics", "/healthz", "/readyz"})
_KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY"}
)
_PROPAGATION_HEADERS = {b"traceparent": "traceparent", b"tracestate": "tracestate", b"baggage": "baggage"}
_TRACE_ID_HEADER_BYTES = TRACE_ID_HEADER.encode("latin-1")

_log = logging.getLogger(__name__)


def instrument_app(
    app: Any, tracing: Tracing, *, excluded_paths: Collection[str] = DEFAULT_EXCLUDED_PATHS
) -> None:
    """Add `TracingMiddleware` to a Starlette/FastAPI app. When tracing is off, add only the cheap
    `TraceContextPassthrough` instead: no span, no `x-trace-id`, but a caller's `traceparent` still
    reaches the upstream."""
    if tracing.enabled:
        app.add_middleware(TracingMiddleware, tracing=tracing, excluded_paths=excluded_paths)
    else:
        app.add_middleware(TraceContextPassthrough, propagator=tracing.propagator)


def route_template(scope: Scope) -> str | None:
    """The matched route's path template (`/v1/models/{model}`), or None before/without a match."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return None
    return scope.get("root_path", "").rstrip("/") + path if scope.get("root_path") else path


def request_attributes(scope: Scope, headers: dict[bytes, bytes] | None = None) -> dict[str, AttributeValue]:
    """The HTTP server attributes known when the request arrives (not `http.route`: routing comes later)."""
    if headers is None:
        headers = dict(scope.get("headers") or ())
    method = scope.get("method", "")
    attrs: dict[str, AttributeValue] = {
        "http.request.method": method if method in _KNOWN_METHODS else "_OTHER",
        "url.path": scope.get("path", ""),
        "url.scheme": scope.get("scheme", "http"),
    }
    if method not in _KNOWN_METHODS:
        attrs["http.request.method_original"] = method
    if scope.get("http_version"):
        attrs["network.protocol.version"] = scope["http_version"]
    address, port = _server_address(scope, headers.get(b"host"))
    if address:
        attrs["server.address"] = address
        if port is not None:
            attrs["server.port"] = port
    client = scope.get("client")
    if client:
        attrs["client.address"] = client[0]
    user_agent = headers.get(b"user-agent")
    if user_agent:
        attrs["user_agent.original"] = user_agent.decode("latin-1")
    return attrs


class TracingMiddleware:
    """Pure ASGI middleware: one SERVER span per HTTP request; other scopes pass straight through."""

    def __init__(
        self, app: ASGIApp, tracing: Tracing, excluded_paths: Collection[str] = DEFAULT_EXCLUDED_PATHS
    ) -> None:
        self.app = app
        self.tracing = tracing
        self.excluded_paths = frozenset(excluded_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.tracing.enabled or scope["path"] in self.excluded_paths:
            await self.app(scope, receive, send)
            return
        try:
            span, token, method = self._start(scope)
        except Exception:  # telemetry must not fail the request
            _log.exception("could not start the request span")
            await self.app(scope, receive, send)
            return
        trace_hex = format_trace_id(span.get_span_context().trace_id)
        trace_id = trace_hex.encode("latin-1")
        # For error handlers that run outside this middleware (FastAPI's 500 handler sits in
        # ServerErrorMiddleware, outermost), where the span is no longer current.
        scope[TRACE_ID_SCOPE_KEY] = trace_hex
        state = {"named": False}

        def route_attributes() -> dict[str, AttributeValue]:
            state["named"] = True
            route = route_template(scope)
            if route is None:
                return {}
            span.update_name(f"{method} {route}")
            return {"http.route": route}

        async def send_with_trace(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                try:
                    message = {
                        **message,
                        "headers": [*message.get("headers", ()), (_TRACE_ID_HEADER_BYTES, trace_id)],
                    }
                    attrs = route_attributes()
                    attrs["http.response.status_code"] = status
                    if status >= 500:
                        attrs["error.type"] = str(status)
                        span.set_status(StatusCode.ERROR)
                    span.set_attributes(attrs)
                except Exception:
                    _log.exception("could not record the response on the request span")
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace)
        except BaseException as exc:
            if span.is_recording():
                span.set_attribute("error.type", _qualified_name(exc))
                span.record_exception(exc)
                span.set_status(StatusCode.ERROR, str(exc)[:200] or type(exc).__name__)
            raise
        finally:
            if not state["named"]:
                span.set_attributes(route_attributes())
            otel_context.detach(token)
            span.end()

    def _start(self, scope: Scope) -> tuple[trace.Span, Token[Context], str]:
        headers, carrier = _scan_headers(scope.get("headers") or ())
        parent = self.tracing.propagator.extract(carrier) if carrier else None
        attrs = request_attributes(scope, headers)
        method = str(attrs["http.request.method"])
        span_method = "HTTP" if method == "_OTHER" else method
        span = self.tracing.tracer.start_span(
            span_method, context=parent, kind=SpanKind.SERVER, attributes=attrs
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        return span, token, span_method


def _scan_headers(raw: Iterable[tuple[bytes, bytes]]) -> tuple[dict[bytes, bytes], dict[str, str]]:
    """One pass over the raw headers: the ones the attributes need, and the propagation carrier."""
    headers: dict[bytes, bytes] = {}
    carrier: dict[str, str] = {}
    for name, value in raw:
        key = _PROPAGATION_HEADERS.get(name)
        if key is not None:
            text = value.decode("latin-1")
            # Repeated baggage headers are one list; the propagator reads a single value.
            carrier[key] = f"{carrier[key]},{text}" if key in carrier and key == "baggage" else text
        elif name in (b"host", b"user-agent"):
            headers[name] = value
    return headers, carrier


def _server_address(scope: Scope, host: bytes | None) -> tuple[str | None, int | None]:
    if host:
        text = host.decode("latin-1")
        if text.startswith("["):  # [::1]:8080
            address, _, rest = text[1:].partition("]")
            port_text = rest[1:] if rest.startswith(":") else ""
        else:
            address, sep, port_text = text.rpartition(":")
            if not sep:
                address, port_text = text, ""
        port = (
            int(port_text) if port_text.isdigit() else {"http": 80, "https": 443}.get(scope.get("scheme", ""))
        )
        return address or None, port
    server = scope.get("server")
    if server:
        return server[0], server[1]
    return None, None


def _qualified_name(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
