"""One socket write for a response's head and its body: uvicorn writes them with two.

uvicorn's httptools protocol writes the status line and headers as soon as the app sends
`http.response.start`, and the body when it sends `http.response.body`: two `write` system calls for
every answer, and the client is woken twice (strace of the gateway under wrk, issue 18). An app sends
both in one loop step whenever the body is ready, as every non-streaming answer is, and a stream's
head usually goes out in the step that has its first event.

`HeadCoalescingTransport` stands between the protocol and the socket's transport. A write that is a
whole response head is held; the next write in the same loop step takes it along in one `writelines`
(one `writev` on uvloop). A head no body joins (a stream still waiting for its first event, a 204, an
interim `100 Continue`) is written at the end of the step. Nothing else changes: order is kept, `close`
writes a held head first, `abort` drops it as the socket's own buffer would be dropped, and the write
buffer size counts it.

    protocol_class = coalescing_protocol(HttpToolsProtocol)   # uvicorn.Config(http=protocol_class)
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["HeadCoalescingTransport", "coalescing_protocol"]


class HeadCoalescingTransport:
    """A transport that holds a response head until the body's first write in the same loop step."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.writelines((held, data))
        elif data[:9] == b"HTTP/1.1 " and data[-4:] == b"\r\n\r\n":
            # uvicorn writes a head whole, in one call; a body that happens to look like one is only
            # delayed to the end of the step, never reordered.
            self._held = bytes(data)
            self._loop.call_soon(self._write_held)
        else:
            self._transport.write(data)

    def writelines(self, chunks: Any) -> None:
        self.write(b"".join(chunks))

    def _write_held(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def close(self) -> None:
        self._write_held()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        held = self._held
        return self._transport.get_write_buffer_size() + (len(held) if held is not None else 0)

    def __getattr__(self, name: str) -> Any:
        # Everything else (is_closing, get_extra_info, pause_reading, …) is the socket transport's.
        return getattr(self._transport, name)


def coalescing_protocol(base: type[HttpToolsProtocol]) -> type[HttpToolsProtocol]:
    """`base` with its connection's writes going through `HeadCoalescingTransport`."""

    class CoalescingProtocol(base):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(HeadCoalescingTransport(transport, asyncio.get_running_loop()))

    CoalescingProtocol.__qualname__ = CoalescingProtocol.__name__ = f"Coalescing{base.__name__}"
    return CoalescingProtocol
