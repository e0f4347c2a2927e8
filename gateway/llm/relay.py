"""A pure ASGI response that relays an upstream SSE stream to the client, chunk by chunk.

Nothing is buffered: each upstream line is forwarded as it arrives. A task watches for the client's
disconnect and cancels the relay, which closes the upstream connection (vLLM aborts the request) and
settles the reservation to the tokens already delivered. A stream that breaks or times out mid-way ends
with an OpenAI-shaped `error` event (the openai SDK raises it), never a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from adapters.vllm.errors import UpstreamFailure, UpstreamTimeoutError
from gateway.errors import error_body
from gateway.llm.accounting import StreamMeter, Usage
from gateway.llm.service import Call, LLMService

__all__ = ["StreamRelay"]

CLIENT_CLOSED = 499  # nginx's convention for "client closed the request"

_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class StreamRelay(Response):
    """A Response (so FastAPI hands it to the server untouched) that writes its own ASGI messages."""

    def __init__(
        self,
        service: LLMService,
        call: Call,
        upstream: AsyncExitStack,
        lines: AsyncIterator[bytes],
    ) -> None:
        self.service = service
        self.call = call
        self.upstream = upstream
        self.lines = lines
        self.stream_headers = _HEADERS
        if call.rate_ticket is not None:  # x-ratelimit-* for limited tenants
            self.stream_headers = _HEADERS + [
                (k.encode(), v.encode()) for k, v in call.rate_ticket.headers.items()
            ]
        self.meter = StreamMeter(call.request.client_wants_usage, keep_text=service.keeps_text)
        self.status_code = 200
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        relay_task = asyncio.current_task()
        assert relay_task is not None
        disconnected = asyncio.Event()

        async def watch_disconnect() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    disconnected.set()
                    relay_task.cancel()
                    return

        watcher = asyncio.create_task(watch_disconnect())
        status = 200
        error: UpstreamFailure | None = None
        sent_text_chunks = 0
        meter = self.meter
        shutting_down = False
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.stream_headers})
            async with asyncio.timeout(self.service.settings.llm.total_timeout_s):
                # One ASGI message per SSE event (its lines plus the blank line that ends it): a write per
                # line doubled the socket writes, the largest cost of relaying a stream.
                event = bytearray()
                event_text_chunks = 0
                async for line in self.lines:
                    if not line:
                        if event:
                            event += b"\n"
                            await send(
                                {"type": "http.response.body", "body": bytes(event), "more_body": True}
                            )
                            sent_text_chunks += event_text_chunks
                            event.clear()
                            event_text_chunks = 0
                        continue  # a separator after a dropped event (the usage chunk) is dropped too
                    before = meter.chunks_with_text
                    if meter.feed(line):
                        event += line + b"\n"
                        event_text_chunks += meter.chunks_with_text - before
                if event:  # an upstream that ended without the final blank line
                    await send({"type": "http.response.body", "body": bytes(event), "more_body": True})
                    sent_text_chunks += event_text_chunks
            if not meter.done:
                error = UpstreamFailure("upstream stream ended without [DONE]")
        except asyncio.CancelledError:
            if disconnected.is_set():
                relay_task.uncancel()
            else:
                shutting_down = True  # the server is stopping: settle what was delivered, then re-raise
            status = CLIENT_CLOSED
        except TimeoutError:
            error = UpstreamTimeoutError("upstream stream exceeded llm.total_timeout_s")
        except UpstreamFailure as exc:
            error = exc
        except OSError:
            status = CLIENT_CLOSED  # the server could not write: the client is gone
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await self.upstream.aclose()  # closing the connection is how vLLM learns to abort

        if error is not None and status != CLIENT_CLOSED:
            status = self.service.translate(error).http_status
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": _error_event(error), "more_body": True})
        if status != CLIENT_CLOSED:
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        usage = meter.usage
        if usage is None:
            # No usage from the upstream (none sent, or the client left first): bill what was delivered.
            usage = Usage(self.call.input_estimate, sent_text_chunks, estimated=True)
        await self.service.finish(
            self.call,
            status=status,
            usage=usage,
            ttft=meter.ttft,
            gaps=meter.gaps,
            finish_reasons=meter.finish_reasons,
            response_id=meter.response_id,
            response_model=meter.response_model,
            output_text=meter.text if meter.keep_text else None,
            error=error,
        )
        if shutting_down:
            raise asyncio.CancelledError


def _error_event(error: UpstreamFailure) -> bytes:
    body = error_body(f"upstream stream failed: {error}", "upstream_error", error.kind)
    return b"data: " + json.dumps(body).encode() + b"\n\n"
