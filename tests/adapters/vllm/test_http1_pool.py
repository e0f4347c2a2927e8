"""The upstream client's own HTTP/1.1 connections (adapters/vllm/http1.py) against raw servers on 127.0.0.1.

Each server here is a few lines of asyncio that answer as a real one may — keep-alive or not, a body
delimited by a length, by chunks or by closing, an idle connection closed under the client's feet — and
count the connections they accept, so reuse (and its absence) is observed from the server's side.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from adapters.vllm.client import ConnectionPool, UpstreamLimits, VLLMClient
from adapters.vllm.errors import (
    UpstreamConnectError,
    UpstreamFirstByteTimeout,
    UpstreamProtocolError,
    UpstreamStreamBroken,
    UpstreamTimeoutError,
)
from adapters.vllm.http1 import _HIGH_WATER, Origin

_OK = b'{"ok":true}'


def _sync(test: Callable[[], Awaitable[None]]) -> Callable[[], None]:
    """Run the async test on a fresh event loop (the suite has no asyncio plugin)."""

    @functools.wraps(test)
    def run() -> None:
        asyncio.run(test())  # type: ignore[arg-type]

    return run


class Server:
    """Counts accepted connections and the requests read on each; `handler` answers one request."""

    def __init__(self, answer: Callable[[asyncio.StreamWriter, int], Awaitable[bool]]) -> None:
        self.answer = answer  # (writer, request number) -> keep the connection open?
        self.connections = 0
        self.requests = 0
        self.closed_by_client = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                self.requests += 1
                if not await self.answer(writer, self.requests):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed_by_client += 1
        finally:
            writer.close()


@asynccontextmanager
async def serving(server: Server) -> AsyncIterator[str]:
    srv = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        srv.close()


def _fixed(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def _answering(*parts: bytes, keep_open: bool) -> Callable[[asyncio.StreamWriter, int], Awaitable[bool]]:
    """A server's answer to every request: `parts` written 20 ms apart (each its own read at the client),
    then the connection kept open or closed."""

    async def answer(writer: asyncio.StreamWriter, _: int) -> bool:
        for i, part in enumerate(parts):
            if i:
                await asyncio.sleep(0.02)
            writer.write(part)
            await writer.drain()
        return keep_open

    return answer


def _split(response: bytes) -> tuple[bytes, bytes]:
    """A response as its head and its body, to be sent apart."""
    head, _, body = response.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", body


_keep_alive = _answering(_fixed(_OK), keep_open=True)


async def _posts(base: str, times: int, *, pause_s: float = 0.0, keepalive_s: float = 30.0) -> list[bytes]:
    """`times` calls one after another on one pool, `pause_s` apart; their answers."""
    client = VLLMClient(ConnectionPool(pool_size=4, connect_timeout_s=2, keepalive_s=keepalive_s), base)
    answers = []
    try:
        for i in range(times):
            if i and pause_s:
                await asyncio.sleep(pause_s)
            answers.append(await client.post_json("/chat/completions", b"{}", {}))
    finally:
        await client.aclose()
    return answers


@pytest.mark.parametrize(
    ("answer", "server_keeps_open", "pause_s", "keepalive_s", "connections"),
    [
        pytest.param(_split(_fixed(_OK)), True, 0.0, 30.0, 1, id="kept-alive-and-reused"),
        pytest.param((_fixed(_OK, b"connection: close\r\n"),), True, 0.0, 30.0, 3, id="close-honoured"),
        # Keep-alive promised, then the server closes the idle connection (uvicorn's keep-alive ends).
        pytest.param((_fixed(_OK),), False, 0.1, 30.0, 3, id="closed-while-idle-not-reused"),
        pytest.param((_fixed(_OK),), True, 0.15, 0.05, 3, id="idle-past-keepalive-closed"),
        pytest.param(
            (b"HTTP/1.0 200 OK\r\ncontent-type: application/json\r\n\r\n", _OK), False, 0.0, 30.0, 3,
            id="body-delimited-by-closing",
        ),
        pytest.param(
            (b"HTTP/1.1 103 Early Hints\r\nlink: </x>; rel=preload\r\n\r\n", *_split(_fixed(_OK))),
            True, 0.0, 30.0, 1, id="informational-answer-skipped",
        ),
    ],
)  # fmt: skip
def test_a_connection_is_reused_exactly_when_the_answer_allows(
    answer: tuple[bytes, ...], server_keeps_open: bool, pause_s: float, keepalive_s: float, connections: int
) -> None:
    server = Server(_answering(*answer, keep_open=server_keeps_open))

    async def run() -> list[bytes]:
        async with serving(server) as base:
            return await _posts(base, 3, pause_s=pause_s, keepalive_s=keepalive_s)

    assert asyncio.run(run()) == [_OK] * 3
    assert (server.connections, server.requests) == (connections, 3)


@_sync
async def test_a_chunked_stream_left_early_closes_its_connection() -> None:
    async def endless(writer: asyncio.StreamWriter, _: int) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        while True:
            writer.write(b"6\r\ndata: \r\n1\r\n\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.005)

    server = Server(endless)
    async with serving(server) as base:
        pool = ConnectionPool(pool_size=4, connect_timeout_s=2)
        client = VLLMClient(pool, base)
        async with client.stream("/chat/completions", b"{}", {}) as batches:
            lines = await anext(batches)
        assert lines[0] == b"data: "
        assert pool.in_use == 0 and pool.idle(client.origin) == 0
        await asyncio.sleep(0.1)
        await client.aclose()
    assert server.closed_by_client == 1


@_sync
async def test_a_body_cut_short_is_a_broken_stream_and_nothing_is_pooled() -> None:
    async def cut(writer: asyncio.StreamWriter, _: int) -> bool:
        writer.write(b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"partial":')
        await writer.drain()
        return False

    server = Server(cut)
    async with serving(server) as base:
        pool = ConnectionPool(pool_size=4, connect_timeout_s=2)
        client = VLLMClient(pool, base)
        with pytest.raises(UpstreamStreamBroken):
            await client.post_json("/chat/completions", b"{}", {})
        assert pool.in_use == 0 and pool.idle(client.origin) == 0
        await client.aclose()


@_sync
async def test_a_connection_closed_before_any_answer_is_a_connect_error() -> None:
    async def hang_up(writer: asyncio.StreamWriter, _: int) -> bool:
        return False

    async with serving(Server(hang_up)) as base:
        client = VLLMClient(ConnectionPool(pool_size=4, connect_timeout_s=2), base)
        with pytest.raises(UpstreamConnectError):
            await client.post_json("/chat/completions", b"{}", {})
        await client.aclose()


@_sync
async def test_bytes_that_are_not_http_are_a_protocol_error() -> None:
    async def garbage(writer: asyncio.StreamWriter, _: int) -> bool:
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)
        return False

    async with serving(Server(garbage)) as base:
        client = VLLMClient(ConnectionPool(pool_size=4, connect_timeout_s=2), base)
        with pytest.raises(UpstreamProtocolError, match=r"not an HTTP/1\.1 response"):
            await client.post_json("/chat/completions", b"{}", {})
        await client.aclose()


@_sync
async def test_nothing_listening_is_a_connect_error() -> None:
    srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    srv.close()
    await srv.wait_closed()
    client = VLLMClient(ConnectionPool(pool_size=4, connect_timeout_s=2), f"http://127.0.0.1:{port}/v1")
    with pytest.raises(UpstreamConnectError, match="cannot reach the upstream"):
        await client.post_json("/chat/completions", b"{}", {})
    await client.aclose()


@_sync
async def test_the_pool_bounds_connections_in_use_and_the_wait_has_the_first_byte_deadline() -> None:
    release = asyncio.Event()

    async def held(writer: asyncio.StreamWriter, _: int) -> bool:
        await release.wait()
        writer.write(_fixed(_OK))
        await writer.drain()
        return True

    server = Server(held)
    async with serving(server) as base:
        pool = ConnectionPool(pool_size=2, connect_timeout_s=2)
        patient = VLLMClient(pool, base, UpstreamLimits(first_byte_timeout_s=5))
        hasty = VLLMClient(pool, base, UpstreamLimits(first_byte_timeout_s=0.2))
        calls = [asyncio.create_task(patient.post_json("/chat/completions", b"{}", {})) for _ in range(2)]
        await asyncio.sleep(0.05)
        assert pool.in_use == 2
        # A third waits for room in the pool, and its first-byte deadline covers that wait.
        with pytest.raises(UpstreamFirstByteTimeout):
            await hasty.post_json("/chat/completions", b"{}", {})
        waiting = asyncio.create_task(patient.post_json("/chat/completions", b"{}", {}))
        await asyncio.sleep(0.05)
        release.set()
        assert await asyncio.gather(*calls, waiting) == [_OK] * 3
        assert pool.in_use == 0 and pool.idle(patient.origin) == 2
        await pool.aclose()
    assert server.connections == 2  # the waiting call took a released connection, none was opened for it


@_sync
async def test_a_header_value_with_a_line_break_is_refused_before_anything_is_sent() -> None:
    server = Server(_keep_alive)
    async with serving(server) as base:
        pool = ConnectionPool(pool_size=4, connect_timeout_s=2)
        client = VLLMClient(pool, base)
        with pytest.raises(ValueError, match="x-request-id"):
            await client.post_json("/chat/completions", b"{}", {"x-request-id": "a\r\nx-admin: yes"})
        assert pool.in_use == 0
        assert await client.post_json("/chat/completions", b"{}", {"x-request-id": "ok"}) == _OK
        await client.aclose()
    assert server.requests == 1


@_sync
async def test_reading_pauses_while_a_slow_consumer_has_not_taken_the_bytes() -> None:
    total = 64 * 1024 * 1024
    sent = 0

    async def flood(writer: asyncio.StreamWriter, _: int) -> bool:
        nonlocal sent
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % total)
        block = b"x" * 65536
        while sent < total:
            writer.write(block)
            sent += len(block)
            await writer.drain()
        return False

    async with serving(Server(flood)) as base:
        pool = ConnectionPool(pool_size=4, connect_timeout_s=2)
        origin, _ = Origin.parse(base)
        loop = asyncio.get_running_loop()
        far = loop.time() + 10

        def never() -> BaseException:
            return TimeoutError()

        conn = await pool.acquire(origin, far, never)
        conn.send(b"GET", "/big", {}, None)
        await conn.head(far, never)
        await asyncio.sleep(0.5)  # nothing read meanwhile
        buffered = len(conn.read_nowait() or b"")
        assert buffered <= 2 * _HIGH_WATER
        assert sent < total // 2  # the server was held back, not drained into memory
        received = buffered
        while chunk := await conn.read(far, never):
            received += len(chunk)
        assert received == total
        pool.release(conn)
        await pool.aclose()


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for `localhost`, valid for a day (cryptography comes with moto, a dev dependency)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_an_https_upstream_is_verified_against_the_trusted_certificates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)

    async def run() -> bytes:
        server = Server(_keep_alive)
        srv = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=server_tls)
        port = srv.sockets[0].getsockname()[1]
        client = VLLMClient(ConnectionPool(pool_size=4, connect_timeout_s=2), f"https://localhost:{port}/v1")
        try:
            answer = await client.post_json("/chat/completions", b"{}", {})
            assert await client.post_json("/chat/completions", b"{}", {}) == answer
            assert server.connections == 1  # kept alive over TLS too
            return answer
        finally:
            await client.aclose()
            srv.close()

    # OpenSSL's default verify paths read SSL_CERT_FILE when the pool makes its TLS context.
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "none.pem"))
    with pytest.raises(UpstreamConnectError, match="SSLCertVerificationError"):
        asyncio.run(run())
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    assert asyncio.run(run()) == _OK


@_sync
async def test_a_probe_fails_by_its_own_timeout_and_returns_any_status_it_gets() -> None:
    async def silent(writer: asyncio.StreamWriter, _: int) -> bool:
        await asyncio.sleep(5)
        return False

    async with serving(Server(silent)) as base:
        client = VLLMClient(ConnectionPool(pool_size=4, connect_timeout_s=2), base)
        with pytest.raises(UpstreamTimeoutError, match=r"no answer to GET /health within 0\.2 s"):
            await client.probe("/health", timeout_s=0.2)
        await client.aclose()
    async with serving(
        Server(
            _answering(b"HTTP/1.1 503 Service Unavailable\r\n", b"content-length: 0\r\n\r\n", keep_open=True)
        )
    ) as base:
        client = VLLMClient(ConnectionPool(pool_size=4, connect_timeout_s=2), base)
        assert await client.probe("/health", timeout_s=2) == (503, b"")
        await client.aclose()


@pytest.mark.parametrize("fresh_ones_answer", [True, False])
def test_a_kept_alive_connection_closed_as_the_request_crosses_it_is_retried_once_on_a_new_one(
    fresh_ones_answer: bool,
) -> None:
    # The server answers a connection's first request, then closes it on reading the second without an
    # answer: the race of a request sent just as the server's keep-alive timeout closes the connection.
    answered: set[int] = set()

    async def first_only(writer: asyncio.StreamWriter, _: int) -> bool:
        if id(writer) in answered or (answered and not fresh_ones_answer):
            return False
        answered.add(id(writer))
        writer.write(_fixed(_OK))
        await writer.drain()
        return True

    server = Server(first_only)

    async def run() -> list[bytes | BaseException]:
        async with serving(server) as base:
            client = VLLMClient(ConnectionPool(pool_size=4, connect_timeout_s=2), base)
            try:
                first = await client.post_json("/chat/completions", b"{}", {})
                try:
                    second: bytes | BaseException = await client.post_json("/chat/completions", b"{}", {})
                except UpstreamConnectError as exc:
                    second = exc
                return [first, second]
            finally:
                await client.aclose()

    first, second = asyncio.run(run())
    assert first == _OK
    if fresh_ones_answer:
        assert second == _OK
    else:  # the new connection closed too: one retry only, then the failure
        assert isinstance(second, UpstreamConnectError)
    assert (server.connections, server.requests) == (2, 3)
