"""A response's head and body in one write (gateway.response_writes).

The unit tests hold a recording transport on a real event loop; the integration tests serve small ASGI
apps under real uvicorn with the gateway's protocol and read the bytes with a raw socket and httpx.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.http_server import uvicorn_options
from gateway.response_writes import HeadCoalescingTransport, coalescing_protocol
from gateway.settings import ServerSettings
from support.servers import uvicorn_thread

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class Recording:
    """What a socket transport was asked to do, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def write(self, data: bytes) -> None:
        self.calls.append(("write", bytes(data)))

    def writelines(self, chunks: Any) -> None:
        self.calls.append(("writelines", tuple(bytes(c) for c in chunks)))

    def close(self) -> None:
        self.calls.append(("close", None))

    def abort(self) -> None:
        self.calls.append(("abort", None))

    def get_write_buffer_size(self) -> int:
        return 7

    def is_closing(self) -> bool:
        return False


def _coalescing() -> tuple[HeadCoalescingTransport, Recording]:
    recording = Recording()
    return HeadCoalescingTransport(recording, asyncio.get_running_loop()), recording  # type: ignore[arg-type]


async def _next_step() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def _a_head_and_the_body_of_the_same_step_go_out_in_one_call() -> None:
    transport, recording = _coalescing()
    transport.write(HEAD)
    assert recording.calls == []
    transport.write(b"ok")
    assert recording.calls == [("writelines", (HEAD, b"ok"))]
    await _next_step()
    assert recording.calls == [("writelines", (HEAD, b"ok"))]  # nothing written twice


async def _a_head_without_a_body_in_its_step_is_written_at_the_end_of_the_step() -> None:
    transport, recording = _coalescing()
    transport.write(HEAD)
    assert transport.get_write_buffer_size() == 7 + len(HEAD)
    await _next_step()
    assert recording.calls == [("write", HEAD)]
    transport.write(b"data: 1\n\n")  # a later event goes straight through
    assert recording.calls[-1] == ("write", b"data: 1\n\n")


async def _close_writes_a_held_head_first_and_abort_drops_it() -> None:
    transport, recording = _coalescing()
    transport.write(HEAD)
    transport.close()
    assert recording.calls == [("write", HEAD), ("close", None)]
    transport, recording = _coalescing()
    transport.write(HEAD)
    transport.abort()
    await _next_step()
    assert recording.calls == [("abort", None)]


async def _writes_that_are_not_heads_pass_through_in_order() -> None:
    transport, recording = _coalescing()
    transport.write(b"HTTP/1.1 is how the body begins")  # not a whole head: it does not end the head
    transport.writelines([b"a", b"b"])
    transport.write(b"HTTP/1.1 looks like a head\r\n\r\n")  # held, then taken along by the next write
    transport.write(b"tail")
    assert recording.calls == [
        ("write", b"HTTP/1.1 is how the body begins"),
        ("write", b"ab"),
        ("writelines", (b"HTTP/1.1 looks like a head\r\n\r\n", b"tail")),
    ]
    assert transport.is_closing() is False  # the rest is the socket transport's


def test_a_head_and_the_body_of_the_same_step_go_out_in_one_call() -> None:
    asyncio.run(_a_head_and_the_body_of_the_same_step_go_out_in_one_call())


def test_a_head_without_a_body_in_its_step_is_written_at_the_end_of_the_step() -> None:
    asyncio.run(_a_head_without_a_body_in_its_step_is_written_at_the_end_of_the_step())


def test_close_writes_a_held_head_first_and_abort_drops_it() -> None:
    asyncio.run(_close_writes_a_held_head_first_and_abort_drops_it())


def test_writes_that_are_not_heads_pass_through_in_order() -> None:
    asyncio.run(_writes_that_are_not_heads_pass_through_in_order())


# -- through real uvicorn --------------------------------------------------------------------------


class _Apps:
    """ASGI apps for the cases, and a gate the streaming one waits on."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/healthz" or path == "/plain":
            body = b'{"ok":true}'
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        elif path == "/empty":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
        elif path == "/stream":
            headers = [(b"content-type", b"text/event-stream")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            while not self.gate.is_set():  # the head must reach the client while this waits
                await asyncio.sleep(0.01)
            await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
            await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


@pytest.fixture
def served() -> Iterator[tuple[str, _Apps]]:
    apps = _Apps()
    with uvicorn_thread(apps, **uvicorn_options(ServerSettings.model_validate({}))) as url:
        yield url, apps


def _exchange(port: int, request: bytes, expect: int) -> bytes:
    """Send raw bytes; read until `expect` bytes have come or the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        out = b""
        while len(out) < expect:
            data = sock.recv(65536)
            if not data:
                break
            out += data
        return out


@pytest.mark.integration
def test_uvicorn_with_the_gateway_protocol_answers_plain_empty_head_and_pipelined_requests(
    served: tuple[str, _Apps],
) -> None:
    url, _ = served
    port = int(url.rsplit(":", 1)[1])
    with httpx.Client(base_url=url, timeout=10) as client:
        plain = client.get("/plain")
        assert plain.status_code == 200 and plain.json() == {"ok": True}
        assert client.get("/empty").status_code == 204
        head = client.head("/plain")
        assert head.status_code == 200 and head.content == b""
    # Two pipelined requests on one connection: both answers whole, in order.
    two = b"GET /plain HTTP/1.1\r\nhost: x\r\n\r\nGET /empty HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    raw = _exchange(port, two, expect=10**9)  # until the server closes it after the second
    first, _, rest = raw.partition(b'{"ok":true}')
    assert first.startswith(b"HTTP/1.1 200 OK\r\n") and rest.startswith(b"HTTP/1.1 204 No Content\r\n")
    # Connection: close is still honoured after the held head.
    closed = _exchange(port, b"GET /plain HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n", expect=10**9)
    assert closed.startswith(b"HTTP/1.1 200 OK\r\n") and closed.endswith(b'{"ok":true}')


@pytest.mark.integration
def test_a_streams_head_reaches_the_client_before_its_first_event(served: tuple[str, _Apps]) -> None:
    url, apps = served
    with httpx.Client(base_url=url, timeout=10) as client, client.stream("GET", "/stream") as response:
        # Headers arrived while the app still waits on the gate: the held head was written at the end
        # of its loop step, not kept for a body.
        assert response.status_code == 200
        assert not apps.gate.is_set()
        started = time.monotonic()
        apps.gate.set()
        assert response.read() == b"data: 1\n\ndata: [DONE]\n\n"
        assert time.monotonic() - started < 10


def test_the_protocol_class_is_uvicorns_with_the_transport_wrapped() -> None:
    protocol = coalescing_protocol(HttpToolsProtocol)
    assert issubclass(protocol, HttpToolsProtocol) and protocol.__name__ == "CoalescingHttpToolsProtocol"
    assert issubclass(uvicorn_options(ServerSettings.model_validate({}))["http"], HttpToolsProtocol)
