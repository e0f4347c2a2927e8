"""The peers section's floor, bench/byte_proxy.py: bytes through unchanged, both ways, and nothing left open.

In-process against an asyncio upstream for the byte-level properties (order, back-pressure, half-close);
as the bench runs it, a process in front of the real simulator, for the OpenAI SDK's view of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import openai
import pytest

from bench.byte_proxy import main, serve
from bench.servers import free_port
from bench.stack import SIM_MODEL, start_byte_proxy, start_sim


@contextlib.asynccontextmanager
async def _proxy_to(upstream_port: int) -> AsyncIterator[int]:
    port = free_port()
    task = asyncio.create_task(serve("127.0.0.1", port, "127.0.0.1", upstream_port))
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.01)
            continue
        writer.close()
        break
    try:
        yield port
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def _megabytes_come_back_whole_and_in_order_through_a_slow_reader() -> None:
    upstream = await asyncio.start_server(_echo, "127.0.0.1", 0)
    upstream_port = upstream.sockets[0].getsockname()[1]
    payload = os.urandom(8 << 20)  # far beyond every socket and transport buffer: back-pressure must hold
    async with upstream, _proxy_to(upstream_port) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def send() -> None:
            for i in range(0, len(payload), 1 << 16):
                writer.write(payload[i : i + (1 << 16)])
                await writer.drain()
            writer.write_eof()

        sender = asyncio.create_task(send())
        received = bytearray()
        while chunk := await reader.read(4096):  # a small read: the proxy's writes must wait for it
            received += chunk
        await sender
        writer.close()
    assert bytes(received) == payload


def test_megabytes_come_back_whole_and_in_order_through_a_slow_reader() -> None:
    asyncio.run(_megabytes_come_back_whole_and_in_order_through_a_slow_reader())


async def _an_upstream_that_is_not_listening_closes_the_client_at_once() -> None:
    async with _proxy_to(free_port()) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        async with asyncio.timeout(5):
            with contextlib.suppress(ConnectionResetError):
                assert await reader.read() == b""
        writer.close()


def test_an_upstream_that_is_not_listening_closes_the_client_at_once() -> None:
    asyncio.run(_an_upstream_that_is_not_listening_closes_the_client_at_once())


async def _the_client_closing_closes_its_upstream_connection() -> None:
    closed = asyncio.Event()

    async def until_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        closed.set()
        writer.close()

    upstream = await asyncio.start_server(until_eof, "127.0.0.1", 0)
    async with upstream, _proxy_to(upstream.sockets[0].getsockname()[1]) as port:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"partial request")
        await writer.drain()
        writer.close()
        async with asyncio.timeout(5):
            await closed.wait()


def test_the_client_closing_closes_its_upstream_connection() -> None:
    asyncio.run(_the_client_closing_closes_its_upstream_connection())


def test_the_sdk_gets_the_simulators_answers_through_it(tmp_path: Path) -> None:
    with (
        start_sim("sim", tmp_path, ttft_ms=1, itl_ms=1, tokens=8) as sim,
        start_byte_proxy("byte-proxy", sim, tmp_path) as proxy,
    ):
        client = openai.OpenAI(base_url=proxy.base_url + "/v1", api_key="unused", max_retries=0)
        messages: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
        for _ in range(3):  # one kept-alive connection, several exchanges
            reply = client.chat.completions.create(model=SIM_MODEL, messages=messages, max_tokens=8)
            assert reply.model == SIM_MODEL
            assert reply.usage is not None and reply.usage.completion_tokens == 8
        chunks = list(
            client.chat.completions.create(model=SIM_MODEL, messages=messages, max_tokens=8, stream=True)
        )
        direct = openai.OpenAI(base_url=sim.base_url + "/v1", api_key="unused", max_retries=0)
        expected = direct.chat.completions.create(model=SIM_MODEL, messages=messages, max_tokens=8)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == expected.choices[0].message.content
        assert chunks[-1].choices[0].finish_reason == expected.choices[0].finish_reason
        client.close()
        direct.close()
        proxy.check_alive()


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [(["--port", "1"], "--upstream"), (["--port", "1", "--upstream", "nohost"], "HOST:PORT")],
)
def test_bad_arguments_exit_2_naming_the_option(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert fragment in capsys.readouterr().err
