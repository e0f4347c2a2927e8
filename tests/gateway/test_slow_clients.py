"""Body deadlines under real uvicorn with the gateway's protocol (gateway.slow_clients).

A body that came with its headers is marked `BODY_ARRIVED` by the protocol and read without arming a
deadline; one still arriving is read under the deadline, and a body that stops short (of its
Content-Length, or of a chunked body's last chunk) gets 408. A client waiting for `100 Continue` gets
it. The client is a raw socket, so what arrives when is the test's to choose.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send

import gateway.slow_clients as slow_clients
from gateway.http_server import uvicorn_options
from gateway.settings import ServerSettings
from gateway.slow_clients import BODY_ARRIVED, BodyReadTimeoutMiddleware
from support.servers import uvicorn_thread

pytestmark = pytest.mark.integration


class _Echo:
    """Answers with the length of the body it read; notes whether the body was marked at its first read."""

    def __init__(self) -> None:
        self.marked_at_first_read: list[bool] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        first = True
        while True:
            if first:
                self.marked_at_first_read.append(BODY_ARRIVED in scope.get("extensions", {}))
                first = False
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        answer = str(len(body)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"%d" % len(answer))],
            }
        )
        await send({"type": "http.response.body", "body": answer})


class _CountingAsyncio:
    """`asyncio` for gateway.slow_clients, counting the deadlines it arms."""

    def __init__(self) -> None:
        self.deadlines = 0

    def timeout_at(self, when: float | None) -> asyncio.Timeout:
        self.deadlines += 1
        return asyncio.timeout_at(when)

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, _Echo, _CountingAsyncio]]:
    echo = _Echo()
    counting = _CountingAsyncio()
    monkeypatch.setattr(slow_clients, "asyncio", counting)
    app = BodyReadTimeoutMiddleware(echo, timeout_s=2.0)
    with uvicorn_thread(app, **uvicorn_options(ServerSettings.model_validate({}))) as url:
        yield int(url.rsplit(":", 1)[1]), echo, counting


def _head(length: int) -> bytes:
    return b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n" % length


def _answer(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data or not data.split(b"\r\n\r\n", 1)[1]:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.parametrize(
    ("pieces", "marked", "deadline_armed"),
    [([b"hello"], True, False), ([b"hello", b"world"], False, True)],
    ids=["sent-with-its-headers", "still-arriving"],
)
def test_a_read_has_a_deadline_only_while_the_body_is_still_arriving(
    served: tuple[int, _Echo, _CountingAsyncio], pieces: list[bytes], marked: bool, deadline_armed: bool
) -> None:
    port, echo, counting = served
    length = sum(len(piece) for piece in pieces)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_head(length) + pieces[0])
        for piece in pieces[1:]:
            time.sleep(0.3)  # well within the 2 s deadline, on a loaded machine too
            sock.sendall(piece)
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"\r\n\r\n%d" % length), answer
    assert echo.marked_at_first_read == [marked]
    assert (counting.deadlines > 0) is deadline_armed


_CHUNKED_HEAD = b"POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    "sent",
    [_head(10) + b"hello", _CHUNKED_HEAD + b"5\r\nhello\r\n"],
    ids=["content-length", "chunked-without-its-last-chunk"],
)
def test_a_body_that_stops_short_gets_408_at_the_deadline(
    served: tuple[int, _Echo, _CountingAsyncio], sent: bytes
) -> None:
    port, _, _ = served
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(sent)
        started = time.monotonic()
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"server.body_read_timeout_s" in answer
    assert 1.9 <= time.monotonic() - started < 10


def test_a_client_that_waits_for_100_continue_gets_it_and_then_its_answer(
    served: tuple[int, _Echo, _CountingAsyncio],
) -> None:
    port, echo, counting = served
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 5\r\n\r\n")
        sock.settimeout(10)
        assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"  # the body is not sent before it
        sock.sendall(b"hello")
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"\r\n\r\n5"), answer
    assert echo.marked_at_first_read == [False] and counting.deadlines >= 1
