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
from adapters.vllm.sim.responses import (
    DONE,
    ChunkEncoder,
    chat_completion_body,
    completion_body,
    error_body,
)
from adapters.vllm.sim.tokens import pad_pieces, split_tokens
from adapters.vllm.sim.tracing import SimTracer
from adapters.vllm.sim.wire import ApiError, GenerationRequest, parse_chat, parse_completion

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
class _Choice:
    """One generated sequence: its tokens and finish reason."""

    tokens: list[str]
    finish_reason: str
    # Its prompt's tokens on the prompt's first choice, 0 on the others (the metrics count a prompt once).
    prompt_tokens: int
    # `echo`: the prompt text, sent before the first token.
    prefix: str = ""
    # False for `echo` with `max_tokens: 0`: the generated token is counted but not shown.
    shown: bool = True

    def text(self) -> str:
        return self.prefix + "".join(self.tokens) if self.shown else self.prefix


@dataclass(slots=True)
class _Plan:
    """The answer for one request, before any time passes: `n` choices for each prompt, in vLLM's
    index order (prompt-major)."""

    request_id: str
    created: int
    choices: list[_Choice]
    wrong: bool
    drop: bool
    # The overreport fault in force for this request.
    overreport: int
    # Decode steps: every sequence advances one token per step, as a batch does.
    steps: int
    completion_tokens: int
    # Every choice has at least one token (false only for an empty scripted answer).
    all_started: bool


def _active_per_step(choices: list[_Choice], steps: int) -> list[int]:
    """How many sequences are still generating at each decode step (for the inter-token latency)."""
    ends = [0] * (steps + 1)
    for choice in choices:
        ends[len(choice.tokens)] += 1
    active, out = len(choices), []
    for step in range(steps):
        active -= ends[step]
        out.append(active)
    return out


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
        plan = self._plan(req, faults, drop)
        timings: tuple[float, float] | None
        try:
            if req.stream:
                timings = await self._stream(send, receive, req, plan, arrival)
            else:
                timings = await self._respond(send, receive, req, plan, arrival)
        except BaseException as exc:
            if span is not None:
                error = "dropped" if isinstance(exc, SimulatedDrop) else type(exc).__name__
                SimTracer.finish(span, self._span_attributes(req, plan), error=error)
            raise
        if timings is None:  # the client left before the answer: aborted, nothing sent
            if span is not None:
                SimTracer.finish(span, self._span_attributes(req, plan), error="client_disconnected")
            return
        if span is not None:
            SimTracer.finish(span, self._span_attributes(req, plan, *timings))

    def _plan(self, req: GenerationRequest, faults: Faults, drop: bool) -> _Plan:
        choices: list[_Choice] = []
        any_wrong = False
        for prompt in req.prompts:
            right = self._answers.get(prompt.text.strip()) if self._answers else None
            wrong = False
            if right is None:
                # The echo answer: the prompt's pieces repeated to --tokens (to the limit with
                # ignore_eos, to min_tokens if that is more).
                length = prompt.limit if req.ignore_eos else max(self.config.tokens, req.min_tokens)
                tokens = pad_pieces(prompt.pieces, length)
            else:
                if faults.wrong_rate:
                    rng = random.Random(req.seed) if req.seed is not None else self._answer_rng
                    wrong = rng.random() < faults.wrong_rate
                tokens = split_tokens(wrong_answer(right) if wrong else right)
            if wrong:
                self._metrics.faults["wrong"] += 1
                any_wrong = True
            if req.ignore_eos:  # no end of sequence: generate up to the limit
                tokens = pad_pieces(tokens, prompt.limit)
            elif len(tokens) < req.min_tokens:
                tokens = pad_pieces(tokens, req.min_tokens)
            finish_reason = "stop"
            if len(tokens) >= prompt.limit and (req.ignore_eos or len(tokens) > prompt.limit):
                tokens = tokens[: prompt.limit]
                finish_reason = "length"
            # vLLM samples each of the n choices; the simulator's answers are deterministic, so they
            # are the same text (what matters to a gateway is their count and their token totals).
            shown = not prompt.echo_only
            choices.append(_Choice(tokens, finish_reason, prompt.tokens, prompt.echo_text, shown))
            if req.n > 1:
                choices.extend(
                    _Choice(tokens, finish_reason, 0, prompt.echo_text, shown) for _ in range(req.n - 1)
                )
        prefix = "chatcmpl-" if req.chat else "cmpl-"
        request_id = f"{prefix}{self._id_prefix}{next(self._seq):016x}"
        lengths = [len(c.tokens) for c in choices]
        return _Plan(
            request_id,
            int(time.time()),
            choices,
            any_wrong,
            drop,
            faults.overreport_tokens,
            max(lengths),
            sum(lengths),
            min(lengths) > 0,
        )

    def _finished(self, plan: _Plan, reason: str | None = None, steps: int | None = None) -> None:
        """Count every sequence as finished (with `reason` instead of its own, after `steps` tokens)."""
        for choice in plan.choices:
            sent = len(choice.tokens) if steps is None else min(steps, len(choice.tokens))
            self._metrics.finished(reason or choice.finish_reason, choice.prompt_tokens, sent)

    async def _send_fault(self, send: Send, faults: Faults) -> None:
        status = faults.status
        headers: tuple[tuple[bytes, bytes], ...] = ()
        if status in (429, 503):
            headers = ((b"retry-after", str(faults.retry_after).encode()),)
        body = error_body(status, f"simulated upstream failure ({status})", _ERROR_TYPES[status], None)
        await send_json(send, status, body, headers)

    async def _respond(
        self, send: Send, receive: Receive, req: GenerationRequest, plan: _Plan, arrival: float
    ) -> tuple[float, float] | None:
        metrics = self._metrics
        if not self._gate.try_acquire():
            await self._gate.acquire()
        try:
            queue_time = _perf() - arrival
            ttft = self._delay(self._ttft)
            total = ttft
            steps = plan.steps
            if steps > 1:
                if self._itl == 0.0:
                    started = (
                        len(plan.choices) if plan.all_started else sum(1 for c in plan.choices if c.tokens)
                    )
                    metrics.itl.observe_many(0.0, plan.completion_tokens - started)
                else:
                    for step in range(1, steps):
                        itl = self._delay(self._itl)
                        metrics.itl.observe_many(itl, sum(1 for c in plan.choices if len(c.tokens) > step))
                        total += itl
            if total > 0.0:
                # vLLM aborts a non-streamed request too when its client goes away (it polls
                # `is_disconnected` while generating); so does the simulator.
                try:
                    await asyncio.wait_for(_until_disconnect(receive), total)
                except TimeoutError:
                    pass
                else:
                    done = int((_perf() - arrival - queue_time) / total * steps) if steps else 0
                    self._finished(plan, "abort", done)
                    return None
        finally:
            self._gate.release()
        make = chat_completion_body if req.chat else completion_body
        body = make(
            plan.request_id,
            plan.created,
            req.model,
            [(c.text(), c.finish_reason) for c in plan.choices],
            req.prompt_tokens,
            plan.completion_tokens + plan.overreport,
        )
        metrics.queue.observe(queue_time)
        metrics.ttft.observe(queue_time + ttft)
        if plan.drop:
            metrics.faults["drop"] += 1
            self._finished(plan, "abort")
            headers = [_JSON, (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            raise SimulatedDrop(plan.request_id)
        await send_json(send, 200, body)
        metrics.e2e.observe(_perf() - arrival)
        self._finished(plan)
        return queue_time, queue_time + ttft

    async def _stream(
        self, send: Send, receive: Receive, req: GenerationRequest, plan: _Plan, arrival: float
    ) -> tuple[float, float]:
        # Headers go out before queueing, as vLLM's StreamingResponse sends them before the first token.
        await send(_SSE_START)
        choices = plan.choices
        metrics = self._metrics
        enc = ChunkEncoder(req.chat, plan.request_id, plan.created, req.model)
        # vLLM's chat stream opens with one role chunk per choice; completions have none.
        parts: list[str] = [enc.role(i) for i in range(len(choices))] if req.chat else []
        drop_at = plan.completion_tokens // 2 if plan.drop else -1
        sent = 0
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
            # One chunk per choice per decode step, in index order, as vLLM emits a batch's outputs;
            # a choice's last token carries its finish_reason.
            steps = plan.steps
            active = _active_per_step(choices, steps)
            rows = [(i, c.tokens, len(c.tokens) - 1, c.finish_reason) for i, c in enumerate(choices)]
            if req.prompts[0].echo_text:
                # `echo`: a choice's first chunk carries its prompt (and only that when not shown).
                rows = [
                    (i, [c.prefix + c.tokens[0] if c.shown else c.prefix, *c.tokens[1:]], last, reason)
                    if c.tokens
                    else (i, [c.prefix], 0, reason)
                    for (i, _, last, reason), c in zip(rows, choices, strict=True)
                ]
            paced = self._itl > 0.0
            if not paced:
                # Every sequence's tokens after its first one (sum(active) is all tokens).
                metrics.itl.observe_many(0.0, plan.completion_tokens - active[0] if steps else 0)
            for step in range(max(steps, 1)):
                if step and paced:
                    itl = self._delay(self._itl)
                    metrics.itl.observe_many(itl, active[step])
                    # Chunks with no time between them go out in one write.
                    await send(
                        {"type": "http.response.body", "body": "".join(parts).encode(), "more_body": True}
                    )
                    parts.clear()
                    await asyncio.sleep(itl)
                    if watcher is not None and watcher.done():
                        self._finished(plan, "abort", step)
                        return queue_time, first_token_at - arrival
                for index, tokens, last, reason in rows:
                    if step < last:
                        if sent == drop_at:
                            await self._drop(send, parts, plan, step)
                        parts.append(enc.token(tokens[step], index))
                        sent += 1
                    elif step == last:
                        if sent == drop_at:
                            await self._drop(send, parts, plan, step)
                        parts.append(enc.last(tokens[step], reason, index))
                        sent += 1
                    elif last < 0 and step == 0:  # an empty answer still finishes its choice
                        parts.append(enc.last("", reason, index))
                if step == 0:
                    first_token_at = _perf()
            if plan.drop:
                await self._drop(send, parts, plan, plan.steps)
        finally:
            self._gate.release()
            if watcher is not None:
                watcher.cancel()
        if req.include_usage:
            parts.append(enc.usage(req.prompt_tokens, plan.completion_tokens + plan.overreport))
        parts.append(DONE)
        await send({"type": "http.response.body", "body": "".join(parts).encode()})
        metrics.ttft.observe(first_token_at - arrival)
        metrics.e2e.observe(_perf() - arrival)
        self._finished(plan)
        return queue_time, first_token_at - arrival

    async def _drop(self, send: Send, parts: list[str], plan: _Plan, steps: int) -> None:
        if parts:
            await send({"type": "http.response.body", "body": "".join(parts).encode(), "more_body": True})
        self._metrics.faults["drop"] += 1
        self._finished(plan, "abort", steps)
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
            "gen_ai.response.finish_reasons": tuple(c.finish_reason for c in plan.choices) if plan else None,
            "gen_ai.usage.input_tokens": req.prompt_tokens,
            "gen_ai.usage.output_tokens": plan.completion_tokens if plan else None,
            # vLLM's own (older) attribute names, so dashboards built on vLLM traces work unchanged.
            "gen_ai.usage.prompt_tokens": req.prompt_tokens,
            "gen_ai.usage.completion_tokens": plan.completion_tokens if plan else None,
            "gen_ai.latency.time_in_queue": queue_time,
            "gen_ai.latency.time_to_first_token": ttft,
        }
