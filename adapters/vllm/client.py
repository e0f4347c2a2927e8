"""The OpenAI-compatible upstream client (vLLM), over an injected `ConnectionPool` (adapters/vllm/http1.py).

`VLLMClient` implements the `Upstream` Protocol the gateway depends on (adapters/vllm/protocol.py); this
module knows vLLM's routes and the exchange's deadlines and limits, and nothing of the gateway. The
pool's errors are translated here into adapters/vllm/errors.py.

Why our own HTTP/1.1 client: httpx over the httpx-aiohttp transport cost 0.69-0.83 ms of CPU per
request here and aiohttp alone 0.32 ms (32 concurrent requests to the simulator, one process, the
simulator's share included); aiohttp was then still ~22 % of the gateway's GIL time per LLM request.
`http1.ConnectionPool` on httptools does the same exchange for less (bench/README.md has the figures).

The upstream is bounded (`UpstreamLimits`), because a broken or hostile one must not be able to hold a
request, or the gateway's memory, without limit:
- four deadlines, each named for what it bounds: connecting (`connect_timeout_s`), the first byte of
  the answer — the headers and the first body chunk, i.e. a stream's first token (`first_byte_timeout_s`),
  the gap between two body chunks (`chunk_timeout_s`), and the whole exchange (`total_timeout_s`);
- an SSE line, an SSE event (its lines up to the blank line) and a non-streaming body each have a size
  limit, counted after the fact of arrival and before anything is kept;
- redirects are never followed (a 307 would re-post the prompt to wherever it points) and compressed
  answers are never asked for or inflated (no zip bombs); no cookie is kept (one tenant's call must not
  carry an upstream's cookie into another's), no proxy is taken from the environment.

    limits = UpstreamLimits(first_byte_timeout_s=30, chunk_timeout_s=30, total_timeout_s=300)
    client = VLLMClient(ConnectionPool(pool_size=512, connect_timeout_s=2), base_url, limits)
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
from functools import partial

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
from adapters.vllm.http1 import (
    ConnectFailed,
    Connection,
    ConnectionLost,
    ConnectionPool,
    ConnectTimedOut,
    OnDeadline,
    Origin,
    ResponseHead,
    UnreadableResponse,
)

__all__ = ["ConnectionPool", "UpstreamLimits", "VLLMClient"]

# identity: an upstream must not send a compressed body that would inflate past every limit.
_JSON = {"content-type": "application/json", "accept-encoding": "identity"}
_GET = {"accept-encoding": "identity"}
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


# One factory per deadline, made once: a wait hands the pool the factory, not a new exception.
_ON_DEADLINE: dict[type[UpstreamTimeoutError], OnDeadline] = {
    UpstreamFirstByteTimeout: partial(
        UpstreamFirstByteTimeout, "upstream sent no answer within llm.first_byte_timeout_s"
    ),
    UpstreamChunkTimeout: partial(
        UpstreamChunkTimeout, "upstream sent nothing for llm.chunk_timeout_s in the middle of its answer"
    ),
    UpstreamTotalTimeout: partial(
        UpstreamTotalTimeout, "upstream answer took longer than llm.total_timeout_s"
    ),
}


class _Deadlines:
    """The deadline of the next wait of one exchange, and what passing it raises."""

    def __init__(self, limits: UpstreamLimits, loop: asyncio.AbstractEventLoop) -> None:
        self.limits = limits
        self.loop = loop
        now = loop.time()
        self.total = now + limits.total_timeout_s
        self.first = now + limits.first_byte_timeout_s
        self.got_first_byte = False

    def next(self) -> tuple[float, OnDeadline]:
        if self.got_first_byte:
            phase, kind = self.loop.time() + self.limits.chunk_timeout_s, _ON_DEADLINE[UpstreamChunkTimeout]
        else:
            phase, kind = self.first, _ON_DEADLINE[UpstreamFirstByteTimeout]
        if self.total <= phase:
            return self.total, _ON_DEADLINE[UpstreamTotalTimeout]
        return phase, kind


def _translate(exc: BaseException, *, streaming_started: bool = False) -> UpstreamFailure:
    """The pool's error → ours. The message names the failure, not the host or the exception's text."""
    if isinstance(exc, ConnectTimedOut):
        return UpstreamConnectTimeout("could not connect to the upstream within llm.connect_timeout_s")
    if streaming_started or (isinstance(exc, ConnectionLost) and exc.after_head):
        # The connection dropping inside the body (a killed replica): broken, and before the first line
        # still retried elsewhere (gateway/routing/retry.py), not a bad answer.
        cause = str(exc) if isinstance(exc, ConnectionLost) else type(exc).__name__  # never a parser's text
        return UpstreamStreamBroken(f"upstream connection broke mid-answer ({cause})")
    if isinstance(exc, ConnectionLost | ConnectFailed):
        # Refused, reset, or closed before an answer.
        return UpstreamConnectError(f"cannot reach the upstream ({exc})")
    if isinstance(exc, UnreadableResponse):
        return UpstreamProtocolError("upstream answer could not be read (not an HTTP/1.1 response)")
    return UpstreamProtocolError(f"upstream answer could not be read ({type(exc).__name__})")


# The pool's own errors; a deadline passing raises ours already (`_ON_DEADLINE`) and goes through as it is.
_FAILURES = (ConnectionLost, ConnectFailed, ConnectTimedOut, UnreadableResponse)


class VLLMClient:
    def __init__(self, pool: ConnectionPool, base_url: str, limits: UpstreamLimits | None = None):
        self.pool = pool
        self.base_url = base_url.rstrip("/")
        self.origin, self.prefix = Origin.parse(self.base_url)
        # vLLM's OpenAI routes live under /v1; its /health and /metrics at the root.
        self.root = self.prefix.removesuffix("/v1")
        self.limits = limits or UpstreamLimits()

    async def _open(
        self,
        method: bytes,
        target: str,
        body: bytes | None,
        headers: Mapping[str, str],
        deadlines: _Deadlines,
    ) -> tuple[Connection, ResponseHead]:
        """Send the request on a pooled connection and wait for the answer's head; the caller releases."""
        deadline, on_deadline = deadlines.next()
        fresh = False
        while True:
            try:
                conn = await self.pool.acquire(self.origin, deadline, on_deadline, fresh=fresh)
            except _FAILURES as exc:
                raise _translate(exc) from exc
            try:
                conn.send(method, target, headers, body)
                head = await conn.head(deadline, on_deadline)
                break
            except BaseException as exc:
                self.pool.release(conn)  # not read to its end: closed, not pooled
                if isinstance(exc, ConnectionLost) and not exc.after_head and conn.reused and not fresh:
                    # A kept-alive connection its server closed as the request crossed the close (vLLM's
                    # uvicorn closes an idle one after VLLM_HTTP_TIMEOUT_KEEP_ALIVE): nothing was answered.
                    # Once more, on a new connection; a second loss is the router's (another replica).
                    fresh = True
                    continue
                if isinstance(exc, _FAILURES):
                    raise _translate(exc) from exc
                raise
        if 300 <= head.status < 400:
            self.pool.release(conn)
            raise UpstreamRedirect(
                f"upstream answered a redirect ({head.status}); redirects are never followed"
            )
        return conn, head

    async def _request(
        self, method: bytes, target: str, body: bytes | None, headers: Mapping[str, str]
    ) -> bytes:
        deadlines = _Deadlines(self.limits, asyncio.get_running_loop())
        conn, head = await self._open(method, target, body, headers, deadlines)
        try:
            if head.status != 200:
                content = await _read_body(conn, head, deadlines, _ERROR_BODY_BYTES, truncate=True)
                raise UpstreamHTTPError(head.status, content, head.headers.get("retry-after"))
            return await _read_body(conn, head, deadlines, self.limits.max_body_bytes, truncate=False)
        finally:
            self.pool.release(conn)

    async def post_json(self, path: str, body: bytes, headers: Mapping[str, str]) -> bytes:
        return await self._request(b"POST", self.prefix + path, body, {**_JSON, **headers})

    async def get_json(self, path: str) -> bytes:
        return await self._request(b"GET", self.prefix + path, None, _GET)

    @asynccontextmanager
    async def stream(
        self, path: str, body: bytes, headers: Mapping[str, str]
    ) -> AsyncIterator[AsyncIterator[list[bytes]]]:
        """Open a streamed POST; yields an iterator over the raw SSE lines (without their line endings) of
        each read from the upstream, one list per read: what arrived together can be relayed together.

        Leaving the block early closes the upstream connection, which is how vLLM learns to abort.
        """
        deadlines = _Deadlines(self.limits, asyncio.get_running_loop())
        conn, head = await self._open(b"POST", self.prefix + path, body, {**_JSON, **headers}, deadlines)
        try:
            if head.status != 200:
                content = await _read_body(conn, head, deadlines, _ERROR_BODY_BYTES, truncate=True)
                raise UpstreamHTTPError(head.status, content, head.headers.get("retry-after"))
            yield _LineReader(conn, deadlines, self.limits).batches()
        finally:
            self.pool.release(conn)  # pooled only when read to its end

    async def probe(self, path: str, timeout_s: float) -> tuple[int, bytes]:
        """GET `path` at the server's root, where vLLM serves `/health` and `/metrics` (beside `/v1`).

        Returns the status and body whatever the status; raises an UpstreamFailure when there is no answer
        within `timeout_s` (the body is bounded by `llm.max_response_bytes` as any other).
        """
        limits = UpstreamLimits(
            first_byte_timeout_s=timeout_s, chunk_timeout_s=timeout_s, total_timeout_s=timeout_s,
            max_body_bytes=self.limits.max_body_bytes,
        )  # fmt: skip
        deadlines = _Deadlines(limits, asyncio.get_running_loop())
        try:
            conn, head = await self._open(b"GET", self.root + path, None, _GET, deadlines)
            try:
                body = await _read_body(conn, head, deadlines, limits.max_body_bytes, truncate=False)
            finally:
                self.pool.release(conn)
        except UpstreamTimeoutError as exc:
            if isinstance(exc, UpstreamConnectTimeout):
                raise
            # Named for the probe's own timeout (routing.health_timeout_s), not the llm.* deadlines.
            raise UpstreamTimeoutError(f"no answer to GET {path} within {timeout_s:g} s") from exc
        return head.status, body

    async def aclose(self) -> None:
        await self.pool.aclose()


async def _next_chunk(conn: Connection, deadlines: _Deadlines, *, started: bool) -> bytes:
    """The body's next bytes (b"" at its end), translated; what has already arrived needs no wait."""
    try:
        chunk = conn.read_nowait()
        if chunk is None:
            deadline, on_deadline = deadlines.next()
            chunk = await conn.read(deadline, on_deadline)
    except _FAILURES as exc:
        raise _translate(exc, streaming_started=started) from exc
    deadlines.got_first_byte = True
    return chunk


async def _read_body(
    conn: Connection, head: ResponseHead, deadlines: _Deadlines, limit: int, *, truncate: bool
) -> bytes:
    """The whole body, at most `limit` bytes: beyond it `truncate` keeps the start, else it fails."""
    declared = head.content_length
    if declared is not None and declared > limit and not truncate:
        raise UpstreamResponseTooLarge(f"upstream body of {declared} bytes is over llm.max_body_bytes")
    body = bytearray()
    while chunk := await _next_chunk(conn, deadlines, started=False):
        body += chunk
        if len(body) > limit:
            if truncate:
                return bytes(body[:limit])
            raise UpstreamResponseTooLarge(f"upstream body is over llm.max_body_bytes ({limit} bytes)")
    return bytes(body)


class _LineReader:
    """Splits the body into lines as chunks arrive, within the SSE line and event limits."""

    def __init__(self, conn: Connection, deadlines: _Deadlines, limits: UpstreamLimits) -> None:
        self.conn = conn
        self.deadlines = deadlines
        self.max_line = limits.max_sse_line_bytes
        self.max_event = limits.max_sse_event_bytes

    async def batches(self) -> AsyncIterator[list[bytes]]:
        """The complete lines of each read, as one list per read (never an empty one)."""
        buffer = bytearray()
        event_bytes = 0
        started = False
        while chunk := await _next_chunk(self.conn, self.deadlines, started=started):
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
        if buffer.strip():
            yield [bytes(buffer)]

    @staticmethod
    def _too_large(what: str, limit: int) -> UpstreamResponseTooLarge:
        return UpstreamResponseTooLarge(
            f"upstream SSE {what} is over llm.max_sse_{what}_bytes ({limit} bytes)"
        )
