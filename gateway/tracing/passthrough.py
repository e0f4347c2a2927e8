"""With tracing off, a caller's W3C trace context still reaches the upstream: pure ASGI middleware.

A client that traces its own calls sends `traceparent` (and maybe `tracestate` / `baggage`). When the
gateway's tracing is off it records no span, but the context it was handed is made current for the
request, so the no-op tracer's spans carry it and `inject_headers` forwards the client's `traceparent`
to vLLM unchanged: the client's trace and vLLM's spans still join, and log rows carry the client's trace
id. Metric exemplars stay empty (`exemplar()` needs a span this process records).

    instrument_app(app, tracing)   # adds this middleware instead of TracingMiddleware when tracing is off
"""

from __future__ import annotations

import logging

from opentelemetry import context as otel_context
from opentelemetry.propagators.textmap import TextMapPropagator
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["TraceContextPassthrough"]

_CARRIER_HEADERS = {b"traceparent": "traceparent", b"tracestate": "tracestate", b"baggage": "baggage"}

_log = logging.getLogger(__name__)


class TraceContextPassthrough:
    """Make the caller's W3C context current for the request; requests without one pass straight through."""

    def __init__(self, app: ASGIApp, propagator: TextMapPropagator) -> None:
        self.app = app
        self.propagator = propagator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier: dict[str, str] = {}
        for name, value in scope.get("headers") or ():
            key = _CARRIER_HEADERS.get(name)
            if key is not None:
                text = value.decode("latin-1")
                carrier[key] = f"{carrier[key]},{text}" if key == "baggage" and key in carrier else text
        if "traceparent" not in carrier:
            await self.app(scope, receive, send)
            return
        try:
            token = otel_context.attach(self.propagator.extract(carrier))
        except Exception:  # a malformed header must not fail the request
            _log.debug("could not read the caller's trace context", exc_info=True)
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            otel_context.detach(token)
