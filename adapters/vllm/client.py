"""The OpenAI-compatible upstream client (vLLM), over an injected `aiohttp.ClientSession`.

The gateway depends on the `Upstream` protocol; this module knows aiohttp and vLLM and nothing of the
gateway. aiohttp's errors are translated here into adapters/vllm/errors.py.

Why aiohttp and not httpx: measured here (32 concurrent requests to the simulator, one process), httpx
over the httpx-aiohttp transport cost 0.69-0.83 ms of CPU per request and aiohttp alone 0.32 ms, the
simulator's own share included — httpx's request/response models and cookie handling sit on top of the
same aiohttp connection. At the gateway's ~2 ms per LLM request that difference is a fifth of its cost
(bench/README.md). httpx's own transport is slower still as concurrency rises (its pool is scanned on
every request).

    client = VLLMClient(make_session(pool_size=512, connect_timeout_s=2, read_timeout_s=30), base_url)
    body = await client.post_json("/chat/completions", payload_bytes, headers)
    status, _ = await client.probe("/health", timeout_s=2)     # vLLM's own health route, at the root
    async with client.stream("/chat/completions", payload_bytes, headers) as lines:
        async for line in lines: ...
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import aiohttp

from adapters.vllm.errors import (
    UpstreamConnectError,
    UpstreamFailure,
    UpstreamHTTPError,
    UpstreamProtocolError,
    UpstreamStreamBroken,
    UpstreamTimeoutError,
)

__all__ = ["Upstream", "VLLMClient", "make_session"]

_JSON = {"content-type": "application/json"}


class Upstream(Protocol):
    """What the gateway needs from an OpenAI-compatible upstream."""

    base_url: str

    async def post_json(self, path: str, body: bytes, headers: Mapping[str, str]) -> bytes: ...

    def stream(
        self, path: str, body: bytes, headers: Mapping[str, str]
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]: ...

    async def get_json(self, path: str) -> bytes: ...

    async def probe(self, path: str, timeout_s: float) -> tuple[int, bytes]: ...

    async def aclose(self) -> None: ...


def make_session(*, pool_size: int, connect_timeout_s: float, read_timeout_s: float) -> aiohttp.ClientSession:
    """A pooled keep-alive session. `read_timeout_s` bounds the wait for the answer and for each chunk.

    Call it inside the running event loop (the session binds to it).
    """
    connector = aiohttp.TCPConnector(limit=pool_size, keepalive_timeout=30, ttl_dns_cache=300)
    timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout_s, sock_read=read_timeout_s)
    # No cookie jar: an upstream's cookie must never travel from one tenant's call into another's.
    return aiohttp.ClientSession(
        connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
    )


def _translate(exc: BaseException, *, streaming_started: bool = False) -> UpstreamFailure:
    if streaming_started:
        return UpstreamStreamBroken(f"upstream stream broke: {type(exc).__name__}: {exc}")
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return UpstreamTimeoutError(f"upstream timed out: {type(exc).__name__}")
    if isinstance(exc, aiohttp.ClientConnectionError):
        # Refused, reset, or closed before an answer (ServerDisconnectedError is one of these).
        return UpstreamConnectError(f"cannot reach upstream: {type(exc).__name__}: {exc}")
    return UpstreamProtocolError(f"upstream error: {type(exc).__name__}: {exc}")


class VLLMClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        # vLLM's OpenAI routes live under /v1; its /health and /metrics at the root.
        self.origin = self.base_url.removesuffix("/v1")

    async def _request(self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]) -> bytes:
        try:
            async with self.session.request(method, self.base_url + path, data=body, headers=headers) as resp:
                content = await resp.read()
                if resp.status != 200:
                    raise UpstreamHTTPError(resp.status, content, resp.headers.get("retry-after"))
                return content
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _translate(exc) from exc

    async def post_json(self, path: str, body: bytes, headers: Mapping[str, str]) -> bytes:
        return await self._request("POST", path, body, {**_JSON, **headers})

    async def get_json(self, path: str) -> bytes:
        return await self._request("GET", path, None, {})

    @asynccontextmanager
    async def stream(
        self, path: str, body: bytes, headers: Mapping[str, str]
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """Open a streamed POST; yields an iterator of raw SSE lines (without the line ending).

        Leaving the block early closes the upstream connection, which is how vLLM learns to abort.
        """
        try:
            resp = await self.session.post(self.base_url + path, data=body, headers={**_JSON, **headers})
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _translate(exc) from exc
        reader = _LineReader(resp)
        try:
            if resp.status != 200:
                content = await resp.read()
                raise UpstreamHTTPError(resp.status, content, resp.headers.get("retry-after"))
            yield reader.lines()
        finally:
            if reader.finished:
                resp.release()  # read to the end: the connection goes back to the pool
            else:
                resp.close()  # left early: a half-read connection must not be reused

    async def probe(self, path: str, timeout_s: float) -> tuple[int, bytes]:
        """GET `path` at the server's root, where vLLM serves `/health` and `/metrics` (beside `/v1`).

        Returns the status and body whatever the status; raises an UpstreamFailure when there is no answer.
        """
        try:
            timeout = aiohttp.ClientTimeout(total=timeout_s)
            async with self.session.get(self.origin + path, timeout=timeout) as resp:
                return resp.status, await resp.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _translate(exc) from exc

    async def aclose(self) -> None:
        await self.session.close()


class _LineReader:
    """Splits the body into lines as chunks arrive (no line-length limit, unlike StreamReader.readline)."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp
        self.finished = False

    async def lines(self) -> AsyncIterator[bytes]:
        buffer = b""
        try:
            async for chunk in self.resp.content.iter_any():
                buffer += chunk
                while (nl := buffer.find(b"\n")) >= 0:
                    line, buffer = buffer[:nl].rstrip(b"\r"), buffer[nl + 1 :]
                    yield line
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _translate(exc, streaming_started=True) from exc
        self.finished = True
        if buffer.strip():
            yield buffer
