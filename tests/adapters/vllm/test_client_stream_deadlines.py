"""The streamed read deadlines of `VLLMClient` (one re-armed timer per stream, `_StreamWatchdog`).

A raw HTTP/1.1 server on 127.0.0.1 sends SSE lines with chosen gaps, so each deadline is hit (or not)
for a known reason: a gap in the upstream's answer, the whole answer's length, and — not a deadline —
the consumer's own time between reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from adapters.vllm.client import ConnectionPool, UpstreamLimits, VLLMClient
from adapters.vllm.errors import UpstreamChunkTimeout, UpstreamTotalTimeout

Script = Callable[[asyncio.StreamWriter], Awaitable[None]]
_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def _serve(script: Script) -> tuple[asyncio.Server, str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # headers; the small body follows in the same read or is ignored
        writer.write(_HEAD)
        try:
            await script(writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/v1"


async def _collect(script: Script, limits: UpstreamLimits, consumer_pause_s: float = 0.0) -> list[bytes]:
    server, base = await _serve(script)
    client = VLLMClient(ConnectionPool(pool_size=4, connect_timeout_s=2), base, limits)
    got: list[bytes] = []
    try:
        async with client.stream("/chat/completions", b"{}", {}) as batches:
            async for lines in batches:
                got.extend(lines)
                if consumer_pause_s:
                    await asyncio.sleep(consumer_pause_s)
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
    return got


def _steady(count: int, gap_s: float, first_delay_s: float = 0.0) -> Script:
    async def script(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(first_delay_s)  # > 0: the client's first read has to wait (the timer is armed)
        for i in range(count):
            writer.write(_chunk(b"data: %d\n\n" % i))
            await writer.drain()
            await asyncio.sleep(gap_s)
        writer.write(_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        await writer.drain()

    return script


async def _stall_after_one(writer: asyncio.StreamWriter) -> None:
    writer.write(_chunk(b"data: 0\n\n"))
    await writer.drain()
    await asyncio.sleep(5)  # far past the chunk deadline; the client closes first


def test_a_stream_within_its_deadlines_is_read_to_the_end() -> None:
    # 0.8 s of chunks 20 ms apart against a 0.3 s chunk deadline: the one timer fires during a later
    # wait, finds that wait's deadline still ahead and re-arms, rather than failing the stream.
    limits = UpstreamLimits(first_byte_timeout_s=2, chunk_timeout_s=0.3, total_timeout_s=5)
    got = asyncio.run(_collect(_steady(40, 0.02), limits))
    assert got == [line for i in range(40) for line in (b"data: %d" % i, b"")] + [b"data: [DONE]", b""]


def test_a_gap_in_the_answer_past_chunk_timeout_fails_the_read() -> None:
    limits = UpstreamLimits(first_byte_timeout_s=2, chunk_timeout_s=0.3, total_timeout_s=5)
    with pytest.raises(UpstreamChunkTimeout, match=r"llm\.chunk_timeout_s"):
        asyncio.run(_collect(_stall_after_one, limits))


def test_the_consumers_own_time_is_not_counted_against_the_chunk_deadline() -> None:
    # The consumer spends 0.3 s per line, past the 0.2 s chunk deadline, while the upstream's chunks
    # are 50 ms apart: the deadline bounds only the waits for the upstream (as a timeout per read did),
    # so the timer firing between reads must not fail the stream.
    limits = UpstreamLimits(first_byte_timeout_s=2, chunk_timeout_s=0.2, total_timeout_s=10)
    got = asyncio.run(_collect(_steady(3, 0.05, first_delay_s=0.05), limits, consumer_pause_s=0.3))
    assert got[-2:] == [b"data: [DONE]", b""]


def test_an_answer_longer_than_total_timeout_fails_even_with_steady_chunks() -> None:
    limits = UpstreamLimits(first_byte_timeout_s=2, chunk_timeout_s=1, total_timeout_s=0.5)
    with pytest.raises(UpstreamTotalTimeout, match=r"llm\.total_timeout_s"):
        asyncio.run(_collect(_steady(200, 0.02), limits))  # 4 s of chunks, 20 ms apart
