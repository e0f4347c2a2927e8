"""Serving one completion: fault injection, answer choice, queueing, simulated timing, the response.

`Generation.handle` runs for every POST to `/v1/chat/completions` or `/v1/completions`:

1. parse and validate the body (400/404 as vLLM would);
2. draw faults from the seeded fault RNG: an error status (500, or 429/503 with Retry-After), a hang
   (waits `hang_seconds` or until the client disconnects; it holds no concurrency slot), or a drop
   (the connection is cut half-way through the body);
3. choose the answer (scripted, wrong, or echo) and cut it at `max_tokens` (finish_reason "length");
4. wait for a slot (`Gate`), then sleep TTFT and one inter-token latency per further token, each scaled
   by a seeded jitter; streaming sends a chunk per token, non-streaming sleeps once for the total;
5. record vLLM's metrics and, when tracing is on and a `traceparent` came in, a span.

A drop is raised as `SimulatedDrop` after part of the body went out: uvicorn then closes the connection
without finishing the chunked body, which the client sees as a broken stream.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from adapters.vllm.sim.answers import wrong_answer
from adapters.vllm.sim.config import Faults, SimConfig
from adapters.vllm.sim.gate import Gate
from adapters.vllm.sim.metrics import SimMetrics
from adapters.vllm.sim.protocol import ApiError, GenerationRequest, parse_chat, parse_completion
from adapters.vllm.sim.responses import (
    DONE,
    ChunkEncoder,
    chat_completion_body,
    completion_body,
    error_body,
)
from adapters.vllm.sim.tokens import pad_pieces, split_tokens
from adapters.vllm.sim.tracing import SimTracer

__all__ = ["Generation", "SimulatedDrop", "read_body", "send_json"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON = (b"content-type", b"application/json")
_SSE_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")],
}
_ERROR_TYPES = {500: "InternalServerError", 429: "RateLimitError", 503: "ServiceUnavailableError"}
_perf = time.perf_counter


class SimulatedDrop(Exception):
    """Raised mid-body on purpose so the server aborts the connection (the `drop` fault)."""


async def read_body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    chunks = [body]
    while message.get("more_body", False):
        message = await receive()
        chunks.append(message.get("body", b""))
    return b"".join(chunks)


async def send_json(
    send: Send, status: int, body: bytes, extra_headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    headers = [_JSON, (b"content-length", str(len(body)).encode()), *extra_headers]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


@dataclass(slots=True)
class _Plan:
    """The answer for one request, before any time passes."""

    request_id: str
    created: int
    tokens: list[str]
    finish_reason: str
    wrong: bool
    drop: bool


class Generation:
    """The generation endpoints' shared state: config, faults, RNGs, gate, metrics, tracer."""

    def __init__(
        self,
        config: SimConfig,
        answers: dict[str, str],
        gate: Gate,
        metrics: SimMetrics,
        tracer: SimTracer | None,
    ) -> None:
        self.config = config
        self.faults = Faults.from_config(config)
        self._answers = answers
        self._gate = gate
        self._metrics = metrics
        self._tracer = tracer
        # Separate streams so that, for one --seed, turning a fault on does not reshuffle the answers.
        self._fault_rng = random.Random(f"{config.seed}:faults")
        self._answer_rng = random.Random(f"{config.seed}:answers")
        self._jitter_rng = random.Random(f"{config.seed}:jitter")
        self._ttft = config.ttft_ms / 1000.0
        self._itl = config.itl_ms / 1000.0
        self._id_prefix = os.urandom(8).hex()
        self._seq = itertools.count()

    def _delay(self, base: float) -> float:
        jitter = self.config.jitter
        base *= self.faults.slow_factor
        if base == 0.0 or jitter == 0.0:
            return base
        return base * (1.0 + jitter * (2.0 * self._jitter_rng.random() - 1.0))

    async def handle(self, scope: Scope, receive: Receive, send: Send, chat: bool) -> None:
        arrival = _perf()
        start_ns = time.time_ns() if self._tracer is not None else 0
        body = await read_body(receive)
        cfg = self.config
        try:
            req = (parse_chat if chat else parse_completion)(body, cfg.model, cfg.max_model_len)
        except ApiError as exc:
            await send_json(send, exc.status, error_body(exc.status, exc.message, exc.err_type, exc.param))
            return
        span = self._tracer.start(scope["headers"], start_ns) if self._tracer is not None else None
        faults = self.faults  # one snapshot per request; admin updates replace the object
        rng = self._fault_rng
        if faults.fail_rate and rng.random() < faults.fail_rate:
            self._metrics.faults["error"] += 1
            await self._send_fault(send, faults)
            if span is not None:
                SimTracer.finish(span, self._span_attributes(req, None), error=str(faults.status))
            return
        if faults.hang_rate and rng.random() < faults.hang_rate:
            self._metrics.faults["hang"] += 1
            try:
                await asyncio.wait_for(_until_disconnect(receive), faults.hang_seconds)
            except TimeoutError:
                pass  # hung long enough: serve it after all, very late
            else:
                if span is not None:
                    SimTracer.finish(span, self._span_attributes(req, None), error="client_disconnected")
                return
        drop = bool(faults.drop_rate) and rng.random() < faults.drop_rate
        plan = self._plan(req, faults.wrong_rate, drop)
        try:
            if req.stream:
                timings = await self._stream(send, receive, req, plan, arrival)
            else:
                timings = await self._respond(send, req, plan, arrival)
        except BaseException as exc:
            if span is not None:
                error = "dropped" if isinstance(exc, SimulatedDrop) else type(exc).__name__
                SimTracer.finish(span, self._span_attributes(req, plan), error=error)
            raise
        if span is not None:
            SimTracer.finish(span, self._span_attributes(req, plan, *timings))

    def _plan(self, req: GenerationRequest, wrong_rate: float, drop: bool) -> _Plan:
        right = self._answers.get(req.prompt_text.strip()) if self._answers else None
        wrong = False
        if right is None:
            tokens = pad_pieces(req.prompt_pieces, self.config.tokens)
        else:
            if wrong_rate:
                rng = random.Random(req.seed) if req.seed is not None else self._answer_rng
                wrong = rng.random() < wrong_rate
            tokens = split_tokens(wrong_answer(right) if wrong else right)
        if wrong:
            self._metrics.faults["wrong"] += 1
        limit = req.max_tokens
        if limit is None:
            limit = self.config.max_model_len - req.prompt_tokens
        finish_reason = "stop"
        if len(tokens) > limit:
            tokens = tokens[:limit]
            finish_reason = "length"
        prefix = "chatcmpl-" if req.chat else "cmpl-"
        request_id = f"{prefix}{self._id_prefix}{next(self._seq):016x}"
        return _Plan(request_id, int(time.time()), tokens, finish_reason, wrong, drop)

    async def _send_fault(self, send: Send, faults: Faults) -> None:
        status = faults.status
        headers: tuple[tuple[bytes, bytes], ...] = ()
        if status in (429, 503):
            headers = ((b"retry-after", str(faults.retry_after).encode()),)
        body = error_body(status, f"simulated upstream failure ({status})", _ERROR_TYPES[status], None)
        await send_json(send, status, body, headers)

    async def _respond(
        self, send: Send, req: GenerationRequest, plan: _Plan, arrival: float
    ) -> tuple[float, float]:
        n = len(plan.tokens)
        metrics = self._metrics
        if not self._gate.try_acquire():
            await self._gate.acquire()
        try:
            queue_time = _perf() - arrival
            ttft = self._delay(self._ttft)
            total = ttft
            if n > 1:
                if self._itl == 0.0:
                    metrics.itl.observe_many(0.0, n - 1)
                else:
                    for _ in range(n - 1):
                        itl = self._delay(self._itl)
                        metrics.itl.observe(itl)
                        total += itl
            if total > 0.0:
                await asyncio.sleep(total)
        finally:
            self._gate.release()
        text = "".join(plan.tokens)
        make = chat_completion_body if req.chat else completion_body
        body = make(plan.request_id, plan.created, req.model, text, plan.finish_reason, req.prompt_tokens, n)
        metrics.queue.observe(queue_time)
        metrics.ttft.observe(queue_time + ttft)
        if plan.drop:
            metrics.faults["drop"] += 1
            metrics.finished("abort", req.prompt_tokens, n)
            headers = [_JSON, (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            raise SimulatedDrop(plan.request_id)
        await send_json(send, 200, body)
        metrics.e2e.observe(_perf() - arrival)
        metrics.finished(plan.finish_reason, req.prompt_tokens, n)
        return queue_time, queue_time + ttft

    async def _stream(
        self, send: Send, receive: Receive, req: GenerationRequest, plan: _Plan, arrival: float
    ) -> tuple[float, float]:
        # Headers go out before queueing, as vLLM's StreamingResponse sends them before the first token.
        await send(_SSE_START)
        tokens = plan.tokens
        n = len(tokens)
        metrics = self._metrics
        enc = ChunkEncoder(req.chat, plan.request_id, plan.created, req.model)
        drop_at = n // 2 if plan.drop else -1
        parts: list[str] = [enc.role()] if req.chat else []
        first_token_at = 0.0
        # vLLM aborts a request whose client went away; so does the simulator, when tokens are paced
        # (with no pacing the whole answer is one write and there is nothing left to abort).
        watcher = asyncio.ensure_future(_until_disconnect(receive)) if self._itl > 0.0 else None
        if not self._gate.try_acquire():
            await self._gate.acquire()
        try:
            queue_time = _perf() - arrival
            metrics.queue.observe(queue_time)
            ttft = self._delay(self._ttft)
            if ttft > 0.0:
                await asyncio.sleep(ttft)
            for i, token in enumerate(tokens):
                if i:
                    itl = self._delay(self._itl)
                    metrics.itl.observe(itl)
                    if itl > 0.0:
                        # Chunks with no time between them go out in one write.
                        await send(
                            {"type": "http.response.body", "body": "".join(parts).encode(), "more_body": True}
                        )
                        parts.clear()
                        await asyncio.sleep(itl)
                        if watcher is not None and watcher.done():
                            metrics.finished("abort", req.prompt_tokens, i)
                            return queue_time, first_token_at - arrival
                if i == drop_at:
                    await self._drop(send, parts, req, plan, i)
                parts.append(enc.last(token, plan.finish_reason) if i == n - 1 else enc.token(token))
                if i == 0:
                    first_token_at = _perf()
            if plan.drop:
                await self._drop(send, parts, req, plan, n)
            if n == 0:
                parts.append(enc.last("", plan.finish_reason))
                first_token_at = _perf()
        finally:
            self._gate.release()
            if watcher is not None:
                watcher.cancel()
        if req.include_usage:
            parts.append(enc.usage(req.prompt_tokens, n))
        parts.append(DONE)
        await send({"type": "http.response.body", "body": "".join(parts).encode()})
        metrics.ttft.observe(first_token_at - arrival)
        metrics.e2e.observe(_perf() - arrival)
        metrics.finished(plan.finish_reason, req.prompt_tokens, n)
        return queue_time, first_token_at - arrival

    async def _drop(
        self, send: Send, parts: list[str], req: GenerationRequest, plan: _Plan, sent_tokens: int
    ) -> None:
        if parts:
            await send({"type": "http.response.body", "body": "".join(parts).encode(), "more_body": True})
        self._metrics.faults["drop"] += 1
        self._metrics.finished("abort", req.prompt_tokens, sent_tokens)
        raise SimulatedDrop(plan.request_id)

    def _span_attributes(
        self,
        req: GenerationRequest,
        plan: _Plan | None,
        queue_time: float | None = None,
        ttft: float | None = None,
    ) -> dict[str, Any]:
        return {
            "gen_ai.operation.name": "chat" if req.chat else "text_completion",
            "gen_ai.provider.name": "vllm",
            "gen_ai.request.model": req.model,
            "gen_ai.response.model": req.model,
            "gen_ai.request.max_tokens": req.max_tokens,
            "gen_ai.request.stream": req.stream,
            "gen_ai.request.id": plan.request_id if plan else None,
            "gen_ai.response.id": plan.request_id if plan else None,
            "gen_ai.response.finish_reasons": (plan.finish_reason,) if plan else None,
            "gen_ai.usage.input_tokens": req.prompt_tokens,
            "gen_ai.usage.output_tokens": len(plan.tokens) if plan else None,
            # vLLM's own (older) attribute names, so dashboards built on vLLM traces work unchanged.
            "gen_ai.usage.prompt_tokens": req.prompt_tokens,
            "gen_ai.usage.completion_tokens": len(plan.tokens) if plan else None,
            "gen_ai.latency.time_in_queue": queue_time,
            "gen_ai.latency.time_to_first_token": ttft,
        }
