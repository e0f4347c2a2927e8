"""Pooled HTTP/1.1 keep-alive connections for the upstream client, on asyncio transports and httptools.

This module is the transport under `VLLMClient` (adapters/vllm/client.py): it opens, reuses and closes
connections and parses responses. It knows nothing of vLLM, deadlines' names or size limits; every wait
takes the deadline its caller computed and the exception to raise when it passes.

Why not aiohttp: aiohttp's request and response objects, URL handling, header multidicts, stream
reader and timer contexts were ~22 % of the gateway's GIL time per non-streaming LLM request in a py-spy
profile (bench/README.md). The gateway sends one kind of request to a handful of origins it trusts to
speak HTTP/1.1, and httptools (llhttp, the parser uvicorn uses for the gateway's own server) does the
parsing, chunked transfer coding included.

What it guarantees, each held by tests/adapters/vllm/:
- a connection is reused only after its response was read to the end and the server allowed keep-alive;
  one left early, failed, timed out or cancelled is closed, never pooled;
- at most `pool_size` connections carry a request at once (every origin together, as aiohttp's
  `limit`); a request beyond it waits for one, bounded by its caller's deadline;
- an idle connection the server closed is dropped, not reused; idle ones are closed after
  `keepalive_s`;
- reading pauses when more than `_HIGH_WATER` bytes wait unread (a slow consumer does not buffer an
  upstream's whole answer in memory) and resumes when they are taken;
- header names and values are checked: a CR, LF or NUL would let a value inject a header or a request.

    late = partial(UpstreamFirstByteTimeout, "no answer in time")   # what a passed deadline raises
    pool = ConnectionPool(pool_size=512, connect_timeout_s=2, keepalive_s=30)
    origin, prefix = Origin.parse("http://127.0.0.1:8000/v1")
    conn = await pool.acquire(origin, deadline, late)
    conn.send(b"POST", prefix + "/chat/completions", headers, body)
    head = await conn.head(deadline, late)                 # status and headers
    while chunk := await conn.read(deadline, late): ...   # b"" at the end of the body
    pool.release(conn)                                     # pooled only when read to its end
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

__all__ = [
    "ConnectFailed",
    "ConnectTimedOut",
    "Connection",
    "ConnectionLost",
    "ConnectionPool",
    "Origin",
    "ResponseHead",
    "UnreadableResponse",
]

OnDeadline = Callable[[], BaseException]  # makes the exception a wait raises when its deadline passes

_HIGH_WATER = 262_144  # bytes received but not yet read before the socket stops being read
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 field-name
_BAD_VALUE = re.compile(rb"[\r\n\x00]")


class ConnectionLost(Exception):
    """The connection closed or reset; `after_head` says whether the response's head had arrived."""

    def __init__(self, after_head: bool, cause: str) -> None:
        super().__init__(cause)
        self.after_head = after_head


class UnreadableResponse(Exception):
    """The bytes from the server are not an HTTP/1.x response httptools can parse."""


class ConnectFailed(Exception):
    """The TCP (or TLS) connection could not be made: refused, unreachable, or no name."""


class ConnectTimedOut(Exception):
    """No connection within the pool's `connect_timeout_s`."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where connections go: scheme, host, port, and the Host header they carry."""

    scheme: str
    host: str
    port: int
    host_header: bytes

    @classmethod
    def parse(cls, url: str) -> tuple[Origin, str]:
        """The origin of `url` and its path prefix (no trailing slash): ("http://h:8000/v1") → (…, "/v1")."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream URL must be http:// or https:// with a host, got {url!r}")
        default = 443 if parts.scheme == "https" else 80
        port = parts.port or default
        name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        host_header = name if port == default else f"{name}:{port}"
        return cls(parts.scheme, parts.hostname, port, host_header.encode("ascii")), parts.path.rstrip("/")


@dataclass(frozen=True, slots=True)
class ResponseHead:
    status: int
    headers: Mapping[str, str]  # lower-cased names; a repeated header keeps its last value

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value is not None and value.isascii() and value.isdigit() else None


def _wait_failed(waiter: asyncio.Future[None], exc: BaseException) -> None:
    if not waiter.done():
        waiter.set_exception(exc)


class Connection(asyncio.Protocol):
    """One keep-alive connection and the response in flight on it (one exchange at a time)."""

    def __init__(self, origin: Origin, loop: asyncio.AbstractEventLoop) -> None:
        self.origin = origin
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.reused = False  # has carried an exchange before this one (taken from the idle pool)
        self.in_exchange = False
        # The exchange in flight:
        self._header_names: list[bytes] = []
        self._header_values: list[bytes] = []
        self._head: ResponseHead | None = None
        self._body = bytearray()
        self._complete = False
        self._informational = False
        self._keep_alive = False
        self._error: BaseException | None = None
        self._paused = False
        # The one pending wait, and its deadline (one timer per connection, re-armed lazily):
        self._waiter: asyncio.Future[None] | None = None
        self._deadline = 0.0
        self._on_deadline: OnDeadline | None = None
        self._timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol --------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass, but is one
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if not self.in_exchange or self._complete:
            self._close()  # bytes outside a response: this connection cannot be trusted with another
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UnreadableResponse("the server switched protocols"))
            self._close()
        except httptools.HttpParserError as exc:
            self._fail(UnreadableResponse(f"malformed HTTP response ({exc})"))
            self._close()

    def eof_received(self) -> bool:
        return False  # close the transport: a half-closed upstream is done

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.in_exchange or self._complete or self._error is not None:
            return
        head = self._head
        if head is not None and _read_until_close(head):
            self._complete = True  # a body delimited by the end of the connection has ended
            self._wake()
            return
        cause = type(exc).__name__ if exc is not None else "ServerDisconnected"
        self._fail(ConnectionLost(after_head=head is not None, cause=cause))

    def pause_writing(self) -> None:  # one request is written at once; the transport buffers it
        pass

    def resume_writing(self) -> None:
        pass

    # -- httptools callbacks -----------------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_names.append(name)
        self._header_values.append(value)

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # 1xx (100 Continue, 103 Early Hints): the answer is the message after it
            self._informational = True
            self._header_names.clear()
            self._header_values.clear()
            return
        headers = {
            n.decode("latin-1").lower(): v.decode("latin-1")
            for n, v in zip(self._header_names, self._header_values, strict=True)
        }
        self._head = ResponseHead(status, headers)
        self._wake()

    def on_body(self, body: bytes) -> None:
        self._body += body
        if not self._paused and len(self._body) > _HIGH_WATER and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        self._complete = True
        self._keep_alive = self.parser.should_keep_alive()
        self._wake()

    # -- the exchange ------------------------------------------------------------------------------------
    def send(self, method: bytes, target: str, headers: Mapping[str, str], body: bytes | None) -> None:
        """Write one request; `headers` are the caller's (Host and Content-Length are added here)."""
        lines = [
            method,
            b" ",
            target.encode("ascii"),
            b" HTTP/1.1\r\nhost: ",
            self.origin.host_header,
            b"\r\n",
        ]
        for name, value in headers.items():
            n, v = name.encode("latin-1"), value.encode("latin-1")
            if not _TOKEN.fullmatch(n) or _BAD_VALUE.search(v):
                raise ValueError(f"invalid header for the upstream: {name!r}")
            lines += (n, b": ", v, b"\r\n")
        if body is not None:
            lines += (b"content-length: ", str(len(body)).encode(), b"\r\n\r\n", body)
        else:
            lines.append(b"\r\n")
        self.in_exchange = True
        assert self.transport is not None
        self.transport.write(b"".join(lines))

    async def head(self, deadline: float, on_deadline: OnDeadline) -> ResponseHead:
        """The response's status and headers, once they have arrived."""
        while self._head is None:
            await self._wait(deadline, on_deadline)
        return self._head

    def read_nowait(self) -> bytes | None:
        """The body bytes already here; b"" at the end of the body; None when none are here yet."""
        if self._body:
            chunk = bytes(self._body)
            self._body.clear()
            if self._paused and self.transport is not None:
                self._paused = False
                self.transport.resume_reading()
            return chunk
        if self._error is not None:
            raise self._error
        return b"" if self._complete else None

    async def read(self, deadline: float, on_deadline: OnDeadline) -> bytes:
        """The next body bytes, waiting for them until `deadline`; b"" at the end of the body."""
        while (chunk := self.read_nowait()) is None:
            await self._wait(deadline, on_deadline)
        return chunk

    @property
    def reusable(self) -> bool:
        """Read to its end, kept alive by the server, nothing pending: may carry another request."""
        return self._complete and self._keep_alive and not self._body and not self.closed and not self._error

    def reset(self) -> None:
        """Forget the finished exchange (the parser carries over: llhttp parses one message after another)."""
        self.in_exchange = False
        self._header_names.clear()
        self._header_values.clear()
        self._head = None
        self._complete = False
        self._keep_alive = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- waiting -----------------------------------------------------------------------------------------
    async def _wait(self, deadline: float, on_deadline: OnDeadline) -> None:
        if self._error is not None:
            raise self._error
        if self.closed and self._head is None:
            raise ConnectionLost(after_head=False, cause="ServerDisconnected")
        self._deadline, self._on_deadline = deadline, on_deadline
        # Most waits end well before their deadline, so one timer serves them all: it is moved earlier
        # when a wait's deadline is, and when it fires early it moves itself to the current deadline.
        if self._timer is None or self._timer.when() > deadline:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self.loop.call_at(deadline, self._deadline_passed)
        waiter = self._waiter = self.loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    def _deadline_passed(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self.loop.time() < self._deadline:
            self._timer = self.loop.call_at(self._deadline, self._deadline_passed)
            return
        assert self._on_deadline is not None
        _wait_failed(waiter, self._on_deadline())

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
        waiter = self._waiter
        if waiter is not None:
            _wait_failed(waiter, exc)

    def _close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Close now, dropping anything unsent: a half-read connection is never reused."""
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            self.transport.abort()


def _read_until_close(head: ResponseHead) -> bool:
    """Is this response's body delimited by the connection closing (no length, not chunked)?"""
    if head.status in (204, 304):
        return False
    return "content-length" not in head.headers and "chunked" not in head.headers.get("transfer-encoding", "")


class ConnectionPool:
    """Keep-alive connections to any number of origins, at most `pool_size` of them in use at once.

    As aiohttp's `limit`, the bound counts connections carrying a request, every origin together; idle
    ones do not count, and close after `keepalive_s` unused (or when their server closes them).
    """

    def __init__(self, *, pool_size: int, connect_timeout_s: float, keepalive_s: float = 30.0) -> None:
        self.pool_size = pool_size
        self.connect_timeout_s = connect_timeout_s
        self.keepalive_s = keepalive_s
        self._idle: dict[Origin, deque[Connection]] = {}
        self._in_use = 0
        self._queue: deque[asyncio.Future[None]] = deque()
        self._ssl: ssl.SSLContext | None = None
        self._closed = False

    @property
    def in_use(self) -> int:
        return self._in_use

    def idle(self, origin: Origin) -> int:
        return len(self._idle.get(origin, ()))

    async def acquire(
        self, origin: Origin, deadline: float, on_deadline: OnDeadline, *, fresh: bool = False
    ) -> Connection:
        """An idle connection to `origin` (unless `fresh`), or a new one; waits for room in the pool until
        `deadline`."""
        loop = asyncio.get_running_loop()
        while self._in_use >= self.pool_size:
            await self._room(loop, deadline, on_deadline)
        if self._closed:
            raise ConnectFailed("the connection pool is closed")
        idle = None if fresh else self._idle.get(origin)
        if idle:
            now = loop.time()
            while idle and now - idle[0].idle_since > self.keepalive_s:  # the oldest first
                idle.popleft().abort()
            while idle:
                conn = idle.pop()  # the most recently used: the likeliest still open
                if not conn.closed:
                    self._in_use += 1
                    conn.reused = True
                    return conn
                conn.abort()
        self._in_use += 1
        try:
            return await self._connect(loop, origin, deadline, on_deadline)
        except BaseException:
            self._in_use -= 1
            self._wake_one()
            raise

    async def _room(self, loop: asyncio.AbstractEventLoop, deadline: float, on_deadline: OnDeadline) -> None:
        waiter = loop.create_future()
        self._queue.append(waiter)
        try:
            async with asyncio.timeout_at(deadline):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self._wake_one()  # woken, but leaving anyway (deadline, cancel): the room is the next one's
            else:
                waiter.cancel()
                self._queue.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise on_deadline() from exc
            raise

    async def _connect(
        self,
        loop: asyncio.AbstractEventLoop,
        origin: Origin,
        deadline: float,
        on_deadline: OnDeadline,
    ) -> Connection:
        connect_by = loop.time() + self.connect_timeout_s
        tls = self._tls() if origin.scheme == "https" else None
        try:
            async with asyncio.timeout_at(min(connect_by, deadline)):
                _, conn = await loop.create_connection(
                    lambda: Connection(origin, loop),
                    origin.host,
                    origin.port,
                    ssl=tls,
                    server_hostname=origin.host if tls else None,
                )
        except TimeoutError as exc:
            if connect_by <= deadline:
                raise ConnectTimedOut() from exc
            raise on_deadline() from exc
        except (OSError, ssl.SSLError) as exc:
            raise ConnectFailed(type(exc).__name__) from exc
        return conn

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def release(self, conn: Connection) -> None:
        """Give back a connection after its exchange: pooled when clean, else closed."""
        self._in_use -= 1
        if conn.reusable and not self._closed:
            conn.reset()
            conn.idle_since = asyncio.get_running_loop().time()
            self._idle.setdefault(conn.origin, deque()).append(conn)
        else:
            conn.abort()
        self._wake_one()

    def _wake_one(self) -> None:
        while self._queue:
            waiter = self._queue.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def aclose(self) -> None:
        """Close every idle connection now; those in use are closed when they are released."""
        self._closed = True
        for idle in self._idle.values():
            while idle:
                idle.pop().abort()
        self._idle.clear()
        for waiter in self._queue:
            if not waiter.done():
                waiter.cancel()
        await asyncio.sleep(0)  # let the transports' close callbacks run
