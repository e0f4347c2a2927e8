"""A pure ASGI response that relays an upstream SSE stream to the client, event by event.

Nothing is held back: the events of each upstream read are forwarded as one write as soon as they arrive
(vLLM's first read carries the role chunk and the first token together; two writes would cost the first
token a socket write more). Every way a stream can end produces
one `Outcome` for `OutcomeRecorder.record`:
- the upstream finished: 200;
- the client disconnected: a watcher cancels the relay, which closes the upstream connection (vLLM aborts
  the request); 499, billed for what was generated;
- the client stopped reading: each send has a deadline (`llm.client_send_timeout_s`); past it the relay
  ends the same way as a disconnect;
- the upstream broke or timed out mid-way: the stream ends with an OpenAI-shaped `error` event (the openai
  SDK raises it) and the outcome carries the failure's status (502/504), so the error-rate SLO counts it
  although the 200 header went out; the status is also left in the request scope for the metrics
  middleware (`scope["state"]["outcome_status"]`);
- the server is shutting down (the task is cancelled): settle what was generated, then re-raise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from adapters.vllm.errors import UpstreamFailure, UpstreamTimeoutError
from gateway.errors import error_body
from gateway.llm.accounting import StreamMeter, estimate_usage
from gateway.llm.admission import Call
from gateway.llm.outcome import CLIENT_CLOSED, Outcome, OutcomeRecorder
from gateway.llm.upstream_errors import to_gateway_error
from gateway.middleware import OUTCOME_STATUS
from gateway.routing.attempts import Lease

__all__ = ["StreamRelay"]

_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class _ClientStalled(Exception):
    """A send did not complete within its deadline: the client stopped reading."""


class _SendDeadline:
    """The client-send deadline of one relay, on one lazily re-armed timer instead of an `asyncio.timeout`
    per send (~5 µs each, ~50 sends a stream): a send notes its deadline; the timer, when it fires during a
    send past that deadline, cancels the relay task (`fired`), else re-arms at the current send's deadline.
    The same scheme as the upstream reads' `_StreamWatchdog` (adapters/vllm/client.py)."""

    def __init__(self, task: asyncio.Task[None], timeout_s: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.task = task
        self.timeout_s = timeout_s
        self.deadline = 0.0
        self.sending = False
        self.fired = False
        self.timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self.deadline = self.loop.time() + self.timeout_s
        self.sending = True
        if self.timer is None:
            self.timer = self.loop.call_at(self.deadline, self._fire)

    def _fire(self) -> None:
        self.timer = None
        if not self.sending:
            return  # the next send arms a new timer
        if self.loop.time() < self.deadline:
            self.timer = self.loop.call_at(self.deadline, self._fire)
            return
        self.fired = True
        self.task.cancel()

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class StreamRelay(Response):
    """A Response (so the router hands it to the server untouched) that writes its own ASGI messages."""

    def __init__(
        self,
        recorder: OutcomeRecorder,
        call: Call,
        upstream: AsyncExitStack,
        batches: AsyncIterator[list[bytes]],
        *,
        total_timeout_s: float,
        send_timeout_s: float,
        keep_text: bool,
        lease: Lease | None = None,
        started: float | None = None,
    ) -> None:
        self.recorder = recorder
        self.call = call
        self.upstream = upstream
        self.batches = batches
        self.total_timeout_s = total_timeout_s
        self.send_timeout_s = send_timeout_s
        self.stream_headers = _HEADERS
        self.lease = lease
        if call.rate_ticket is not None:  # x-ratelimit-* for limited tenants
            self.stream_headers = _HEADERS + [
                (k.encode(), v.encode()) for k, v in call.rate_ticket.headers.items()
            ]
        self.meter = StreamMeter(call.request.client_wants_usage, keep_text=keep_text)
        if started is not None:
            # The first line was read before the relay existed (upstream_call.py): time from the call's start.
            self.meter.started = started
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

        guard = _SendDeadline(relay_task, self.send_timeout_s)

        async def timed_send(message: Message) -> None:
            guard.start()
            try:
                await send(message)
            except asyncio.CancelledError:
                if not guard.fired or disconnected.is_set():
                    raise
                guard.fired = False  # this cancellation is spent: a later one is judged afresh
                relay_task.uncancel()
                raise _ClientStalled from None
            finally:
                guard.sending = False

        watcher = asyncio.create_task(watch_disconnect())
        status = 200
        error: UpstreamFailure | None = None
        meter = self.meter
        shutting_down = False
        try:
            await timed_send({"type": "http.response.start", "status": 200, "headers": self.stream_headers})
            async with asyncio.timeout(self.total_timeout_s):
                # One ASGI message per upstream read, with the whole SSE events it completed (an event's
                # lines plus the blank line that ends it): socket writes are the largest cost of relaying a
                # stream, and an event cut across two reads goes out once it is whole.
                event = bytearray()
                ready = bytearray()
                async for lines in self.batches:
                    for line in lines:
                        if not line:
                            if event:
                                event += b"\n"
                                ready += event
                                event.clear()
                            continue  # a separator after a dropped event (the usage chunk) is dropped too
                        if meter.feed(line):
                            event += line + b"\n"
                    if ready:
                        body = bytes(ready)
                        ready.clear()
                        await timed_send({"type": "http.response.body", "body": body, "more_body": True})
                if event:  # an upstream that ended without the final blank line
                    await timed_send({"type": "http.response.body", "body": bytes(event), "more_body": True})
            if not meter.done:
                error = UpstreamFailure("upstream stream ended without [DONE]")
        except asyncio.CancelledError:
            if disconnected.is_set():
                relay_task.uncancel()
            else:
                shutting_down = True  # the server is stopping: settle what was generated, then re-raise
            status = CLIENT_CLOSED
        except _ClientStalled:
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
            status = to_gateway_error(error).http_status
            with contextlib.suppress(OSError, _ClientStalled):
                await timed_send(
                    {"type": "http.response.body", "body": _error_event(error), "more_body": True}
                )
        if status != CLIENT_CLOSED:
            with contextlib.suppress(OSError, _ClientStalled):
                await timed_send({"type": "http.response.body", "body": b"", "more_body": False})
        guard.close()
        scope.setdefault("state", {})[OUTCOME_STATUS] = status

        usage = meter.usage
        if usage is None:
            # No usage from the upstream (none sent, or the stream was cut first): bill what was generated.
            req = self.call.request
            usage = estimate_usage(
                self.call.input_estimate, meter.text_chars, meter.chunks_with_text, req.output_bound
            )
        outcome = Outcome(
            status=status,
            usage=usage,
            ttft=meter.ttft,
            gaps=meter.gaps,
            finish_reasons=meter.finish_reasons,
            response_id=meter.response_id,
            response_model=meter.response_model,
            output_text=meter.text if meter.keep_text else None,
            error=error,
            after_header=error is not None,
            lease=self.lease,
        )
        await self.recorder.record(self.call, outcome)
        if shutting_down:
            raise asyncio.CancelledError


def _error_event(error: UpstreamFailure) -> bytes:
    body = error_body(f"upstream stream failed: {error}", "upstream_error", error.kind)
    return b"data: " + json.dumps(body).encode() + b"\n\n"
