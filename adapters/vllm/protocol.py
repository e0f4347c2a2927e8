"""The `Upstream` Protocol: all the gateway knows about an OpenAI-compatible upstream.

The gateway's router holds `Upstream`s, never `VLLMClient` or its connections, so a test can route to a
hand-written upstream; `adapters.vllm.client.VLLMClient` is the implementation (vLLM, the simulator).

    async def models(upstream: Upstream) -> bytes:
        return await upstream.get_json("/models")
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Protocol

__all__ = ["Upstream"]


class Upstream(Protocol):
    """What the gateway needs from an OpenAI-compatible upstream."""

    base_url: str

    async def post_json(self, path: str, body: bytes, headers: Mapping[str, str]) -> bytes: ...

    def stream(
        self, path: str, body: bytes, headers: Mapping[str, str]
    ) -> AbstractAsyncContextManager[AsyncIterator[list[bytes]]]:
        """A streamed POST: the raw SSE lines of each read from the upstream, one list per read."""
        ...

    async def get_json(self, path: str) -> bytes: ...

    async def probe(self, path: str, timeout_s: float) -> tuple[int, bytes]: ...

    async def aclose(self) -> None: ...
