"""The OpenAI-compatible upstream client (vLLM), over an injected `aiohttp.ClientSession`.

`VLLMClient` implements the `Upstream` Protocol the gateway depends on (adapters/vllm/protocol.py); this
module knows aiohttp and vLLM and nothing of the gateway. aiohttp's errors are translated here into
adapters/vllm/errors.py.

Why aiohttp and not httpx: measured here (32 concurrent requests to the simulator, one process), httpx
over the httpx-aiohttp transport cost 0.69-0.83 ms of CPU per request and aiohttp alone 0.32 ms, the
simulator's own share included — httpx's request/response models and cookie handling sit on top of the
same aiohttp connection. At the gateway's ~2 ms per LLM request that difference is a fifth of its cost
(bench/README.md). httpx's own transport is slower still as concurrency rises (its pool is scanned on
every request).

The upstream is bounded (`UpstreamLimits`), because a broken or hostile one must not be able to hold a
request, or the gateway's memory, without limit:
- four deadlines, each named for what it bounds: connecting (`connect_timeout_s`), the first byte of
  the answer — the headers and the first body chunk, i.e. a stream's first token (`first_byte_timeout_s`),
  the gap between two body chunks (`chunk_timeout_s`), and the whole exchange (`total_timeout_s`);
- an SSE line, an SSE event (its lines up to the blank line) and a non-streaming body each have a size
  limit, counted after the fact of arrival and before anything is kept;
- redirects are never followed (a 307 would re-post the prompt to wherever it points) and compressed
  answers are never asked for or inflated (no zip bombs).

    limits = UpstreamLimits(first_byte_timeout_s=30, chunk_timeout_s=30, total_timeout_s=300)
    client = VLLMClient(make_session(pool_size=512, connect_timeout_s=2), base_url, limits)
    body = await client.post_json("/chat/completions", payload_bytes, headers)
    status, _ = await client.probe("/health", timeout_s=2)     # vLLM's own health route, at the root
    async with client.stream("/chat/completions", payload_bytes, headers) as batches:
        async for lines in batches: ...                                 # the lines of one read
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp

from adapters.vllm.errors import (
    UpstreamChunkTimeout,
    UpstreamConnectError,
    UpstreamConnectTimeout,
    UpstreamFailure,
    UpstreamFirstByteTimeout,
    UpstreamHTTPError,
    UpstreamProtocolError,
    UpstreamRedirect,
    UpstreamResponseTooLarge,
    UpstreamStreamBroken,
    UpstreamTimeoutError,
    UpstreamTotalTimeout,
)

__all__ = ["UpstreamLimits", "VLLMClient", "make_session"]

# identity: an upstream must not send a compressed body that would inflate past every limit.
_JSON = {"content-type": "application/json", "accept-encoding": "identity"}
_ERROR_BODY_BYTES = 65_536  # an error answer's body is kept for its message; the rest is not read


@dataclass(frozen=True)
class UpstreamLimits:
    """Deadlines (seconds) and sizes (bytes) one upstream exchange must keep (settings: `llm.*`)."""

    first_byte_timeout_s: float = 30.0
    chunk_timeout_s: float = 30.0
    total_timeout_s: float = 300.0
    max_sse_line_bytes: int = 1_048_576
    max_sse_event_bytes: int = 4_194_304
    max_body_bytes: int = 16_777_216


def make_session(*, pool_size: int, connect_timeout_s: float) -> aiohttp.ClientSession:
    """A pooled keep-alive session whose only own deadline is the TCP connect.

    Every other deadline is the client's (`UpstreamLimits`), per phase of each exchange. Call it inside
    the running event loop (the session binds to it).
    """
    connector = aiohttp.TCPConnector(limit=pool_size, keepalive_timeout=30, ttl_dns_cache=300)
    # sock_connect, not connect: `connect` also counts the wait for a free pooled connection, which is
    # load, not an unreachable upstream; that wait is bounded by the first-byte deadline instead.
    timeout = aiohttp.ClientTimeout(total=None, connect=None, sock_connect=connect_timeout_s, sock_read=None)
    # No cookie jar: an upstream's cookie must never travel from one tenant's call into another's.
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        auto_decompress=False,
    )


class _Deadlines:
    """The deadline of the next read of one exchange, and which limit it is."""

    def __init__(self, limits: UpstreamLimits) -> None:
        self.limits = limits
        self.loop = asyncio.get_running_loop()
        now = self.loop.time()
        self.total = now + limits.total_timeout_s
        self.first = now + limits.first_byte_timeout_s
        self.got_first_byte = False

    def next(self) -> tuple[float, type[UpstreamTimeoutError]]:
        kind: type[UpstreamTimeoutError]
        if self.got_first_byte:
            phase, kind = self.loop.time() + self.limits.chunk_timeout_s, UpstreamChunkTimeout
        else:
            phase, kind = self.first, UpstreamFirstByteTimeout
        if self.total <= phase:
            return self.total, UpstreamTotalTimeout
        return phase, kind


_TIMEOUT_MESSAGES: dict[type[UpstreamTimeoutError], str] = {
    UpstreamFirstByteTimeout: "upstream sent no answer within llm.first_byte_timeout_s",
    UpstreamChunkTimeout: "upstream sent nothing for llm.chunk_timeout_s in the middle of its answer",
    UpstreamTotalTimeout: "upstream answer took longer than llm.total_timeout_s",
}


def _timeout(kind: type[UpstreamTimeoutError]) -> UpstreamTimeoutError:
    return kind(_TIMEOUT_MESSAGES[kind])


class _StreamWatchdog:
    """The read deadlines of one stream, on one timer re-armed lazily instead of a timeout per chunk.

    `asyncio.timeout_at` costs ~5-6 µs per read (a Timeout, a timer handle, task cancel bookkeeping);
    a 50-token stream waits for ~50 chunks. Here a read only notes its deadline (`waiting`); the one
    timer, when it fires, re-arms itself at the current read's deadline if that is later, and otherwise
    fails the pending read by setting the timeout as the stream's exception, which wakes the reader with
    it (no task is cancelled). The deadlines are those of `_Deadlines`, measured from the read's start.
    """

    def __init__(self, content: aiohttp.StreamReader, deadlines: _Deadlines) -> None:
        self.content = content
        self.deadlines = deadlines
        self.deadline = 0.0
        self.kind: type[UpstreamTimeoutError] = UpstreamChunkTimeout
        self.waiting = False
        self.timer: asyncio.TimerHandle | None = None

    def start_wait(self) -> None:
        self.deadline, self.kind = self.deadlines.next()
        self.waiting = True
        if self.timer is None or self.timer.when() > self.deadline:
            if self.timer is not None:
                self.timer.cancel()
            self.timer = self.deadlines.loop.call_at(self.deadline, self._fire)

    def _fire(self) -> None:
        self.timer = None
        if not self.waiting:
            return  # re-armed by the next read
        if self.deadlines.loop.time() < self.deadline:
            self.timer = self.deadlines.loop.call_at(self.deadline, self._fire)
            return
        self.content.set_exception(_timeout(self.kind))

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def _translate(exc: BaseException, *, streaming_started: bool = False) -> UpstreamFailure:
    """aiohttp's error → ours. The message names the failure, not the host or aiohttp's text."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return UpstreamConnectTimeout("could not connect to the upstream within llm.connect_timeout_s")
    if streaming_started or isinstance(exc, aiohttp.ClientPayloadError):
        # A payload error is the connection dropping inside the body (a killed replica): broken, and
        # before the first line still retried elsewhere (gateway/routing/retry.py), not a bad answer.
        return UpstreamStreamBroken(f"upstream connection broke mid-answer ({type(exc).__name__})")
    if isinstance(exc, aiohttp.ClientConnectionError):
        # Refused, reset, or closed before an answer (ServerDisconnectedError is one of these).
        return UpstreamConnectError(f"cannot reach the upstream ({type(exc).__name__})")
    return UpstreamProtocolError(f"upstream answer could not be read ({type(exc).__name__})")


def _check_status(resp: aiohttp.ClientResponse) -> None:
    if 300 <= resp.status < 400:
        raise UpstreamRedirect(f"upstream answered a redirect ({resp.status}); redirects are never followed")


class VLLMClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, limits: UpstreamLimits | None = None):
        self.session = session
        self.base_url = base_url.rstrip("/")
        # vLLM's OpenAI routes live under /v1; its /health and /metrics at the root.
        self.origin = self.base_url.removesuffix("/v1")
        self.limits = limits or UpstreamLimits()

    async def _request(self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]) -> bytes:
        deadlines = _Deadlines(self.limits)
        deadline, kind = deadlines.next()
        try:
            async with asyncio.timeout_at(deadline):
                resp = await self.session.request(
                    method, self.base_url + path, data=body, headers=headers, allow_redirects=False
                )
        except TimeoutError as exc:
            if isinstance(exc, aiohttp.ConnectionTimeoutError):
                raise _translate(exc) from exc
            raise _timeout(kind) from exc
        except aiohttp.ClientError as exc:
            raise _translate(exc) from exc
        try:
            _check_status(resp)
            if resp.status != 200:
                content = await _read_body(resp, deadlines, _ERROR_BODY_BYTES, truncate=True)
                raise UpstreamHTTPError(resp.status, content, resp.headers.get("retry-after"))
            return await _read_body(resp, deadlines, self.limits.max_body_bytes, truncate=False)
        finally:
            resp.release()

    async def post_json(self, path: str, body: bytes, headers: Mapping[str, str]) -> bytes:
        return await self._request("POST", path, body, {**_JSON, **headers})

    async def get_json(self, path: str) -> bytes:
        return await self._request("GET", path, None, {"accept-encoding": "identity"})

    @asynccontextmanager
    async def stream(
        self, path: str, body: bytes, headers: Mapping[str, str]
    ) -> AsyncIterator[AsyncIterator[list[bytes]]]:
        """Open a streamed POST; yields an iterator over the raw SSE lines (without their line endings) of
        each read from the upstream, one list per read: what arrived together can be relayed together.

        Leaving the block early closes the upstream connection, which is how vLLM learns to abort.
        """
        deadlines = _Deadlines(self.limits)
        deadline, kind = deadlines.next()
        try:
            async with asyncio.timeout_at(deadline):
                resp = await self.session.post(
                    self.base_url + path, data=body, headers={**_JSON, **headers}, allow_redirects=False
                )
        except TimeoutError as exc:
            if isinstance(exc, aiohttp.ConnectionTimeoutError):
                raise _translate(exc) from exc
            raise _timeout(kind) from exc
        except aiohttp.ClientError as exc:
            raise _translate(exc) from exc
        reader = _LineReader(resp, deadlines, self.limits)
        try:
            _check_status(resp)
            if resp.status != 200:
                content = await _read_body(resp, deadlines, _ERROR_BODY_BYTES, truncate=True)
                raise UpstreamHTTPError(resp.status, content, resp.headers.get("retry-after"))
            yield reader.batches()
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
            async with self.session.get(self.origin + path, timeout=timeout, allow_redirects=False) as resp:
                return resp.status, await resp.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _translate(exc) from exc

    async def aclose(self) -> None:
        await self.session.close()


async def _read_chunk(
    resp: aiohttp.ClientResponse,
    deadlines: _Deadlines,
    *,
    started: bool,
    watchdog: _StreamWatchdog | None = None,
) -> bytes:
    content = resp.content
    try:
        # What has already arrived (or the end) needs no wait, so no deadline object either: a small
        # non-streaming body usually lands with its headers, and its end with it. read_nowait is
        # readany without the wait; b"" from it means "nothing yet" unless the stream is at its end.
        chunk = content.read_nowait()
    except (TimeoutError, aiohttp.ClientError) as exc:  # the error the connection was closed with
        if isinstance(exc, aiohttp.ClientError):
            raise _translate(exc, streaming_started=started) from exc
        raise _timeout(deadlines.next()[1]) from exc
    if chunk or content.at_eof():
        deadlines.got_first_byte = True
        return chunk
    if watchdog is not None:
        watchdog.start_wait()
        try:
            chunk = await content.readany()  # the watchdog's timeout is raised from here as it is
        except aiohttp.ClientError as exc:
            raise _translate(exc, streaming_started=started) from exc
        finally:
            watchdog.waiting = False
        deadlines.got_first_byte = True
        return chunk
    deadline, kind = deadlines.next()
    try:
        async with asyncio.timeout_at(deadline):
            chunk = await content.readany()
    except TimeoutError as exc:
        if isinstance(exc, aiohttp.ClientError):  # aiohttp's own socket timeout (none is set, but safe)
            raise _translate(exc, streaming_started=started) from exc
        raise _timeout(kind) from exc
    except aiohttp.ClientError as exc:
        raise _translate(exc, streaming_started=started) from exc
    deadlines.got_first_byte = True
    return chunk


async def _read_body(
    resp: aiohttp.ClientResponse, deadlines: _Deadlines, limit: int, *, truncate: bool
) -> bytes:
    """The whole body, at most `limit` bytes: beyond it `truncate` keeps the start, else it fails."""
    declared = resp.content_length
    if declared is not None and declared > limit and not truncate:
        raise UpstreamResponseTooLarge(f"upstream body of {declared} bytes is over llm.max_body_bytes")
    body = bytearray()
    while chunk := await _read_chunk(resp, deadlines, started=False):
        body += chunk
        if len(body) > limit:
            if truncate:
                return bytes(body[:limit])
            raise UpstreamResponseTooLarge(f"upstream body is over llm.max_body_bytes ({limit} bytes)")
    return bytes(body)


class _LineReader:
    """Splits the body into lines as chunks arrive, within the SSE line and event limits."""

    def __init__(self, resp: aiohttp.ClientResponse, deadlines: _Deadlines, limits: UpstreamLimits) -> None:
        self.resp = resp
        self.deadlines = deadlines
        self.max_line = limits.max_sse_line_bytes
        self.max_event = limits.max_sse_event_bytes
        self.finished = False

    async def batches(self) -> AsyncIterator[list[bytes]]:
        """The complete lines of each read, as one list per read (never an empty one)."""
        watchdog = _StreamWatchdog(self.resp.content, self.deadlines)
        try:
            buffer = bytearray()
            event_bytes = 0
            started = False
            while chunk := await _read_chunk(self.resp, self.deadlines, started=started, watchdog=watchdog):
                started = True
                buffer += chunk
                start = 0
                batch: list[bytes] = []
                failure: UpstreamResponseTooLarge | None = None
                # One pass over the chunk, one deletion afterwards: slicing the rest off per line would make
                # a chunk of many short lines quadratic.
                while (nl := buffer.find(b"\n", start)) >= 0:
                    end = nl - 1 if nl > start and buffer[nl - 1] == 13 else nl  # strip a \r before the \n
                    line = bytes(buffer[start:end])
                    start = nl + 1
                    if len(line) > self.max_line:
                        failure = self._too_large("line", self.max_line)
                        break
                    if line:
                        event_bytes += len(line) + 1
                        if event_bytes > self.max_event:
                            failure = self._too_large("event", self.max_event)
                            break
                    else:
                        event_bytes = 0
                    batch.append(line)
                if failure is None and len(buffer) - start > self.max_line:  # a line growing past the limit
                    failure = self._too_large("line", self.max_line)
                if batch:
                    yield batch  # the lines before a failure still reach the client, then the failure
                if failure is not None:
                    raise failure
                if start:
                    del buffer[:start]
            self.finished = True
            if buffer.strip():
                yield [bytes(buffer)]
        finally:
            watchdog.close()

    @staticmethod
    def _too_large(what: str, limit: int) -> UpstreamResponseTooLarge:
        return UpstreamResponseTooLarge(
            f"upstream SSE {what} is over llm.max_sse_{what}_bytes ({limit} bytes)"
        )
