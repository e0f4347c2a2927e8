"""Slow and greedy clients: deadlines on reading a request, and the uvicorn options that bound connections.

A client that sends its headers or body a byte at a time (slowloris) would otherwise hold a connection,
a task and a budget reservation for as long as it likes. Three guards, each with a setting
(`server.*`, docs/configuration.md):

- `BodyReadTimeoutMiddleware` (ASGI): the whole body must arrive within `body_read_timeout_s` of the
  request reaching the app; otherwise the request is answered 408 with `connection: close`. The deadline
  covers only the body: once it is in, waiting for a disconnect (a streaming response's watcher) is not
  limited. A read made when the server has said the body is all buffered (`BODY_ARRIVED` in the scope's
  extensions, set by the protocol below) cannot wait on the client and goes without a deadline: most
  bodies arrive with their headers, and a deadline costs ~10 µs more than the read (`timeit`, issue 18).
- `header_guarded_protocol(timeout)` (uvicorn): uvicorn has no deadline for a request's headers — a
  fresh connection that never finishes them is kept forever — so this subclass of its httptools protocol
  closes a connection whose headers have not all arrived `header_read_timeout_s` after it opened (or
  after the request's first byte, on a kept-alive connection). It also marks a request whose body is
  complete with `BODY_ARRIVED`.
- `uvicorn_limits(settings)`: `limit_concurrency` (connections and in-flight requests; beyond it 503)
  and `timeout_keep_alive`.
"""

from __future__ import annotations

import asyncio
import json
from asyncio import TimerHandle, Transport
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.errors import error_body
from gateway.settings import ServerSettings

__all__ = ["BODY_ARRIVED", "BodyReadTimeoutMiddleware", "header_guarded_protocol", "uvicorn_limits"]

BODY_ARRIVED = "modelgate.body_arrived"


class _BodyReadTimeout(Exception):
    pass


_TIMEOUT_BODY = json.dumps(
    error_body(
        "the request body did not arrive in time (server.body_read_timeout_s)",
        "invalid_request_error",
        "request_timeout",
        "body",
    )
).encode()


class BodyReadTimeoutMiddleware:
    """Answers 408 and closes the connection when the request body takes longer than `timeout_s`."""

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        extensions = scope.get("extensions") or {}
        body_done = False
        timed_out = False
        started = False

        async def guarded_receive() -> Message:
            nonlocal body_done, timed_out
            if body_done:
                return await receive()
            if BODY_ARRIVED in extensions:
                message = await receive()  # buffered: this read cannot wait on the client
            else:
                try:
                    async with asyncio.timeout_at(deadline):
                        message = await receive()
                except TimeoutError:
                    timed_out = True
                    raise _BodyReadTimeout from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            # Once the read timed out, whatever the app makes of the failed read (FastAPI: a 400, an
            # unhandled error: a 500) is replaced by our 408.
            if timed_out:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            if not timed_out:
                raise
        if timed_out and not started:
            await send(
                {
                    "type": "http.response.start",
                    "status": 408,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(_TIMEOUT_BODY)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _TIMEOUT_BODY})


def header_guarded_protocol(timeout_s: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, closing connections whose request headers take over `timeout_s`."""

    class HeaderGuardedProtocol(HttpToolsProtocol):
        header_timeout_s = timeout_s
        header_timer: TimerHandle | None = None

        def connection_made(self, transport: Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.arm_header_timer()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.arm_header_timer()

        def on_headers_complete(self) -> None:
            self.disarm_header_timer()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            cycle = self.cycle
            # Unless uvicorn ignored the event (an upgrade, a body after the response had gone). Present,
            # not true: ASGI extensions are dicts.
            if not cycle.more_body:
                cycle.scope.setdefault("extensions", {})[BODY_ARRIVED] = {}

        def connection_lost(self, exc: Exception | None) -> None:
            self.disarm_header_timer()
            super().connection_lost(exc)

        def arm_header_timer(self) -> None:
            if self.header_timer is None:
                self.header_timer = self.loop.call_later(self.header_timeout_s, self.headers_too_slow)

        def disarm_header_timer(self) -> None:
            if self.header_timer is not None:
                self.header_timer.cancel()
                self.header_timer = None

        def headers_too_slow(self) -> None:
            self.header_timer = None
            if not self.transport.is_closing():
                self.transport.close()

    return HeaderGuardedProtocol


def uvicorn_limits(server: ServerSettings) -> dict[str, Any]:
    """The uvicorn options that bound what clients can hold (for `uvicorn.run` / `uvicorn.Config`)."""
    return {
        "http": header_guarded_protocol(server.header_read_timeout_s),
        "limit_concurrency": server.max_connections,
        "timeout_keep_alive": server.keep_alive_timeout_s,
    }
