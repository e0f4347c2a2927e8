"""An asyncio load client for streamed chat completions that records time to first content chunk.

aiohttp rather than httpx: as a load client httpx cost ~12 ms CPU per stream on this machine
(REFERENCE.md), and the client shares the two cores with the servers it measures. `concurrency`
workers each run one stream after another until `max_streams` have started or `seconds` have passed:

    async with StreamLoad(url, body, headers, concurrency=32) as load:
        await load.run(seconds=3, max_streams=200)            # warm-up, discarded
        result = await load.run(seconds=20, max_streams=2000)
    percentile(result.ttft_s, 50)

TTFT is from just before the request is sent to the first SSE chunk whose `delta.content` is non-empty
(vLLM's first chunk carries only the role). Only chunks up to that one are JSON-decoded; the rest are
read and checked for the closing `data: [DONE]`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp

__all__ = ["StreamLoad", "StreamRun", "first_content"]


@dataclass
class StreamRun:
    """What one `StreamLoad.run` saw. Times in seconds."""

    ttft_s: list[float] = field(default_factory=list)
    duration_s: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def completed(self) -> int:
        return len(self.duration_s)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def first_content(line: bytes) -> bool:
    """True when an SSE line is a chat chunk carrying non-empty content."""
    if not line.startswith(b"data:"):
        return False
    payload = line[5:].strip()
    if not payload or payload == b"[DONE]":
        return False
    chunk: Any = json.loads(payload)
    return any((choice.get("delta") or {}).get("content") for choice in chunk.get("choices") or ())


class StreamLoad:
    """One aiohttp session with `concurrency` keep-alive connections, reused across runs."""

    def __init__(
        self, url: str, body: Mapping[str, Any], headers: Mapping[str, str], *, concurrency: int
    ) -> None:
        self._url = url
        self._body = json.dumps(body).encode()
        self._headers = {"Content-Type": "application/json", **headers}
        self._concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> StreamLoad:
        connector = aiohttp.TCPConnector(limit=self._concurrency, limit_per_host=self._concurrency)
        timeout = aiohttp.ClientTimeout(total=60, sock_read=30)
        self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def run(self, *, seconds: float, max_streams: int) -> StreamRun:
        """Run streams until `max_streams` have started or `seconds` have passed; wait for those in flight."""
        result = StreamRun()
        started = 0
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal started
            while started < max_streams and time.perf_counter() < deadline:
                started += 1  # single-threaded event loop: no lock needed between the check and this
                await self._one(result)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(self._concurrency)))
        result.wall_s = time.perf_counter() - began
        return result

    async def _one(self, result: StreamRun) -> None:
        assert self._session is not None, "use StreamLoad as an async context manager"
        began = time.perf_counter()
        ttft: float | None = None
        done = False
        try:
            async with self._session.post(self._url, data=self._body, headers=self._headers) as response:
                if response.status != 200:
                    await response.read()
                    result.error(f"status_{response.status}")
                    return
                async for line in response.content:
                    if ttft is None:
                        if first_content(line):
                            ttft = time.perf_counter() - began
                    elif line.startswith(b"data: [DONE]"):
                        done = True
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:  # ValueError: a chunk not JSON
            result.error(type(exc).__name__)
            return
        if ttft is None or not done:
            result.error("no_content" if ttft is None else "no_done")
            return
        result.ttft_s.append(ttft)
        result.duration_s.append(time.perf_counter() - began)
