"""The OpenAI-compatible upstream client (vLLM), over an injected `httpx.AsyncClient`.

The gateway depends on the `Upstream` protocol; this module knows httpx and vLLM and nothing of the
gateway. httpx errors are translated here into adapters/vllm/errors.py. The default client uses the
httpx-aiohttp transport: httpx's own pool scans every pooled connection on each request, which costs
more CPU as concurrency rises (bench/README.md has the figures).

    client = VLLMClient(make_http_client(pool_size=512, connect_timeout_s=2, read_timeout_s=30), base_url)
    status, body = await client.post_json("/chat/completions", payload_bytes, headers)
    async with client.stream("/chat/completions", payload_bytes, headers) as lines:
        async for line in lines: ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import httpx

from adapters.vllm.errors import (
    UpstreamConnectError,
    UpstreamFailure,
    UpstreamHTTPError,
    UpstreamProtocolError,
    UpstreamStreamBroken,
    UpstreamTimeoutError,
)

__all__ = ["Upstream", "VLLMClient", "make_http_client"]

_JSON = {"content-type": "application/json"}


class Upstream(Protocol):
    """What the gateway needs from an OpenAI-compatible upstream."""

    base_url: str

    async def post_json(self, path: str, body: bytes, headers: Mapping[str, str]) -> bytes: ...

    def stream(
        self, path: str, body: bytes, headers: Mapping[str, str]
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]: ...

    async def get_json(self, path: str) -> bytes: ...

    async def aclose(self) -> None: ...


def make_http_client(*, pool_size: int, connect_timeout_s: float, read_timeout_s: float) -> httpx.AsyncClient:
    """A pooled keep-alive client on the aiohttp transport."""
    from httpx_aiohttp import AiohttpTransport

    limits = httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size, keepalive_expiry=30)
    timeout = httpx.Timeout(
        connect=connect_timeout_s, read=read_timeout_s, write=read_timeout_s, pool=read_timeout_s
    )
    return httpx.AsyncClient(
        transport=AiohttpTransport(limits=limits, trust_env=False), timeout=timeout, trust_env=False
    )


def _translate(exc: httpx.HTTPError, *, streaming_started: bool = False) -> UpstreamFailure:
    if streaming_started:
        return UpstreamStreamBroken(f"upstream stream broke: {type(exc).__name__}: {exc}")
    if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError):
        # httpx-aiohttp reports a connection closed before any answer as ConnectTimeout.
        return UpstreamConnectError(f"cannot reach upstream: {exc or type(exc).__name__}")
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeoutError(f"upstream timed out: {type(exc).__name__}")
    if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError):
        return UpstreamConnectError(f"upstream connection failed: {type(exc).__name__}: {exc}")
    return UpstreamProtocolError(f"upstream error: {type(exc).__name__}: {exc}")


class VLLMClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    async def post_json(self, path: str, body: bytes, headers: Mapping[str, str]) -> bytes:
        try:
            response = await self.http.post(self.base_url + path, content=body, headers={**_JSON, **headers})
        except httpx.HTTPError as exc:
            raise _translate(exc) from exc
        if response.status_code != 200:
            raise UpstreamHTTPError(
                response.status_code, response.content, response.headers.get("retry-after")
            )
        return response.content

    async def get_json(self, path: str) -> bytes:
        try:
            response = await self.http.get(self.base_url + path)
        except httpx.HTTPError as exc:
            raise _translate(exc) from exc
        if response.status_code != 200:
            raise UpstreamHTTPError(
                response.status_code, response.content, response.headers.get("retry-after")
            )
        return response.content

    @asynccontextmanager
    async def stream(
        self, path: str, body: bytes, headers: Mapping[str, str]
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """Open a streamed POST; yields an iterator of raw SSE lines (without the line ending).

        Leaving the block closes the upstream connection, which is how vLLM learns to abort the request.
        """
        request = self.http.build_request(
            "POST", self.base_url + path, content=body, headers={**_JSON, **headers}
        )
        try:
            response = await self.http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise _translate(exc) from exc
        try:
            if response.status_code != 200:
                content = await response.aread()
                raise UpstreamHTTPError(response.status_code, content, response.headers.get("retry-after"))
            yield self._lines(response)
        finally:
            await response.aclose()

    async def _lines(self, response: httpx.Response) -> AsyncIterator[bytes]:
        buffer = b""
        try:
            async for chunk in response.aiter_raw():
                buffer += chunk
                while True:
                    nl = buffer.find(b"\n")
                    if nl < 0:
                        break
                    line, buffer = buffer[:nl].rstrip(b"\r"), buffer[nl + 1 :]
                    yield line
        except httpx.HTTPError as exc:
            raise _translate(exc, streaming_started=True) from exc
        if buffer.strip():
            yield buffer

    async def aclose(self) -> None:
        await self.http.aclose()
