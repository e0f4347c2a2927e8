"""Telling a request's handler that its client has gone, without a task waiting on `receive()`.

The ASGI way to notice a client that leaves mid-request is to call `receive()` until it returns
`http.disconnect`. Once the body is read, that takes a task of its own, created and cancelled for every
request: ~20 µs of a non-streaming LLM request's ~0.8 ms of CPU on this machine (`timeit`, issue 18).
uvicorn's protocol learns it first, in `connection_lost`. `signalling_protocol(base)` gives each
connection a `ConnectionLost`, puts it in every request's scope (`scope["extensions"]`, under
`EXTENSION`) and fires it there. `ClientDeparture` registers with it, or, under a server without it
(a test client, another ASGI server), watches `receive()` with a task as before.

    async with ClientDeparture(scope, receive, on_left=lambda: task.cancel()):
        await work()
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from types import TracebackType

from starlette.types import Receive, Scope
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["EXTENSION", "ClientDeparture", "ConnectionLost", "signalling_protocol"]

EXTENSION = "modelgate.connection_lost"


class ConnectionLost:
    """Callbacks run once, when the client's connection is lost (or at once, if it already is)."""

    __slots__ = ("_callbacks", "lost")

    def __init__(self) -> None:
        self._callbacks: list[Callable[[], None]] = []
        self.lost = False

    def add(self, callback: Callable[[], None]) -> None:
        if self.lost:
            callback()
        else:
            self._callbacks.append(callback)

    def discard(self, callback: Callable[[], None]) -> None:
        with contextlib.suppress(ValueError):
            self._callbacks.remove(callback)

    def fire(self) -> None:
        self.lost = True
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()


def signalling_protocol(base: type[HttpToolsProtocol]) -> type[HttpToolsProtocol]:
    """`base` putting its connection's `ConnectionLost` in each request's scope, fired on connection loss."""

    class SignallingProtocol(base):  # type: ignore[valid-type,misc]
        connection_signal: ConnectionLost

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            self.connection_signal = ConnectionLost()
            super().connection_made(transport)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.scope.setdefault("extensions", {})[EXTENSION] = self.connection_signal

        def connection_lost(self, exc: Exception | None) -> None:
            super().connection_lost(exc)
            self.connection_signal.fire()

    SignallingProtocol.__qualname__ = SignallingProtocol.__name__ = f"Signalling{base.__name__}"
    return SignallingProtocol


class ClientDeparture:
    """While inside, `on_left()` is called once if the client disconnects."""

    __slots__ = ("_on_left", "_receive", "_signal", "_watcher")

    def __init__(self, scope: Scope, receive: Receive, on_left: Callable[[], None]) -> None:
        extensions = scope.get("extensions")
        self._signal: ConnectionLost | None = extensions.get(EXTENSION) if extensions else None
        self._receive = receive
        self._on_left = on_left
        self._watcher: asyncio.Task[None] | None = None

    async def __aenter__(self) -> None:
        if self._signal is not None:
            self._signal.add(self._on_left)
        else:
            self._watcher = asyncio.create_task(self._watch())

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._signal is not None:
            self._signal.discard(self._on_left)
        elif self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher

    async def _watch(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self._on_left()
