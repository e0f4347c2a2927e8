"""Pure ASGI middleware: request timing and status metrics, and the body-size limit.

Request ids live in gateway/request_id.py; the body-read deadline in gateway/slow_clients.py.

It wraps `send` instead of using BaseHTTPMiddleware, so a streamed response is timed to its last byte
and nothing is buffered. Labels come from the matched route template (Starlette puts the route in the
scope while routing), so unknown paths all count as route `other`. `/metrics` itself is never measured.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import error_body
from gateway.metrics import OTHER, GatewayMetrics, LabelCache

OUTCOME_STATUS = (
    "outcome_status"  # scope["state"] key: a response's real status when it differs from its header
)

__all__ = ["BodySizeLimitMiddleware", "MetricsMiddleware", "backend_of", "status_class"]

UNMEASURED = frozenset({"/metrics"})


def backend_of(route: str) -> str:
    """The dashboard dimension a route belongs to."""
    if route.startswith("/v1/churn"):
        return "churn"
    if route.startswith(("/v1/chat", "/v1/completions", "/v1/models", "/v1/budget")):
        return "llm"
    return "ops"


def status_class(status: int) -> str:
    return f"{status // 100}xx"


class MetricsMiddleware:
    """Times every HTTP request to its last byte and counts it by route template and status.

    `exemplar` returns the current trace id, if any, so latency buckets link to traces.
    """

    def __init__(
        self,
        app: ASGIApp,
        metrics: GatewayMetrics,
        exemplar: Callable[[], dict[str, str] | None] = lambda: None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.exemplar = exemplar
        self._duration = LabelCache(metrics.request_duration)
        self._requests = LabelCache(metrics.requests)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNMEASURED:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        # Shared with the routes (the relay writes a stream's real outcome here).
        state = scope.setdefault("state", {})
        status = 500
        exemplar: dict[str, str] | None = None

        async def send_wrapper(message: Message) -> None:
            nonlocal status, exemplar
            if message["type"] == "http.response.start":
                status = message["status"]
                # Read while the request's span is still current.
                exemplar = self.exemplar()
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or OTHER
            backend = backend_of(template)
            method = scope["method"] if template != OTHER else OTHER
            elapsed = time.perf_counter() - start
            # A stream that failed after its 200 header counts with its real outcome (gateway/llm/relay.py).
            status = state.get(OUTCOME_STATUS, status)
            self._duration(backend, template, method, status_class(status)).observe(elapsed, exemplar)
            self._requests(backend, template, method, str(status)).inc()


class BodySizeLimitMiddleware:
    """Refuses bodies over `max_bytes` with 413, by Content-Length or while the body streams in."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(send)
                return
        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _BodyTooLarge
            return message

        forwarded = False

        async def guarded_send(message: Message) -> None:
            nonlocal forwarded
            # Once the body overflowed, whatever the app answers (FastAPI turns a failed body read into
            # a 400) is replaced by our 413.
            if too_large:
                return
            forwarded = True
            await send(message)

        with contextlib.suppress(_BodyTooLarge):
            await self.app(scope, limited_receive, guarded_send)
        if too_large and not forwarded:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            error_body(
                f"request body is larger than {self.max_bytes} bytes",
                "invalid_request_error",
                "payload_too_large",
                "body",
            )
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    pass
