"""The last stage of the LLM lane: one outcome record per call, and one function that records it.

Both routes — streaming (relay.py) and not (routes.py) — end every admitted `Call` with an `Outcome` and
hand it to `OutcomeRecorder.record`, which, in this order and exactly once:
1. settles the reservation to the cost of the reported usage (or releases it when nothing was generated)
   through the journaled settler, so a ledger that is down loses no money;
2. counts an overrun when the reported usage cost more than was reserved (billed as reported);
3. meters: request counters by final status, latency, TTFT, inter-token gaps, tokens and cost;
4. ends the client span with the GenAI response attributes;
5. writes the LLM log row;
6. gives the concurrency slot back.

Before all that it ends the call's hold on its replica (`outcome.lease`, from the upstream-call stage),
which feeds the replica's passive health and `modelgate_upstream_requests_total`. A fallback model that
served the call is what the metrics, span and log row name, and its price is what is settled.

`status` is the request's real result, not only the header: a stream that failed after its 200 header went
out is recorded with the failure's status (502/504), which is what the error-rate SLO reads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import Status, StatusCode

from adapters.vllm.errors import UpstreamFailure
from gateway.budget.journal import JournaledSettler
from gateway.budget.pricing import cost_usd
from gateway.errors import GatewayError
from gateway.llm.accounting import Usage
from gateway.llm.admission import Call, TenantConcurrency
from gateway.logwriter import ParquetLogWriter
from gateway.metrics import GatewayMetrics, LabelCache
from gateway.routing.attempts import Lease
from gateway.tenancy.admission import TenantAdmission
from gateway.tracing import content, genai
from gateway.tracing.context import exemplar
from gateway.tracing.setup import Tracing

__all__ = ["CLIENT_CLOSED", "Outcome", "OutcomeRecorder"]

log = logging.getLogger(__name__)

CLIENT_CLOSED = 499  # nginx's convention for "client closed the request"


@dataclass(slots=True)
class Outcome:
    status: int
    usage: Usage | None = None
    ttft: float | None = None
    gaps: list[float] = field(default_factory=list)
    finish_reasons: list[str] = field(default_factory=list)
    response_id: str | None = None
    response_model: str | None = None
    output_text: str | None = None
    error: UpstreamFailure | GatewayError | None = None
    after_header: bool = False  # the failure came after a 200 header had gone out (a broken stream)
    body: bytes | None = None  # a non-streamed response's body, passed to the client as is
    lease: Lease | None = None  # the replica (and the model, maybe a fallback) that answered

    @property
    def served_model(self) -> str | None:
        return self.lease.model if self.lease is not None else None

    @property
    def error_type(self) -> str | None:
        if isinstance(self.error, UpstreamFailure):
            return self.error.kind
        if self.error is not None:
            return type(self.error).__name__
        return str(self.status) if self.status >= 500 else None


class OutcomeRecorder:
    def __init__(
        self,
        *,
        metrics: GatewayMetrics,
        tracing: Tracing,
        settler: JournaledSettler | None,
        concurrency: TenantConcurrency,
        log_writer: ParquetLogWriter | None,
        log_content: bool,
    ) -> None:
        self.metrics = metrics
        self.tracing = tracing
        self.settler = settler
        self.concurrency = concurrency
        self.tenancy = TenantAdmission()  # the app fills it in: the rate limits' settlement
        self.log_writer = log_writer
        self.log_content = log_content
        # The per-request series, resolved once per label tuple (LabelCache).
        self._in_flight = LabelCache(metrics.llm_in_flight)
        self._requests = LabelCache(metrics.llm_requests)
        self._duration = LabelCache(metrics.llm_duration)
        self._ttft = LabelCache(metrics.ttft)
        self._tpot = LabelCache(metrics.tpot)
        self._tokens = LabelCache(metrics.llm_tokens)
        self._cost = LabelCache(metrics.llm_cost)
        self._open = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def opened(self) -> None:
        """Count an admitted call, so `drain` can wait for its outcome."""
        self._open += 1
        self._idle.clear()

    async def drain(self, timeout_s: float) -> int:
        """Wait until every admitted call has been recorded; the number still open after `timeout_s`."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            log.error("%d LLM request(s) not recorded within %.1f s of shutdown", self._open, timeout_s)
        return self._open

    async def record(self, call: Call, outcome: Outcome) -> None:
        """Settle, meter, end the span, log, release. Never raises (but re-raises a cancellation after
        recording): the response is already decided."""
        cancelled = False
        try:
            lease = outcome.lease
            if lease is not None:
                failure = outcome.error if isinstance(outcome.error, UpstreamFailure) else None
                lease.end(failure, client_closed=outcome.status == CLIENT_CLOSED)
            price = call.price_of(lease.model) if lease is not None else call.price
            usage = outcome.usage
            cost = cost_usd(usage.input_tokens, usage.output_tokens, price) if usage else 0.0
            try:
                await self._settle(call, outcome, cost)
                if call.rate_ticket is not None:  # tpm holds what was really used from now on
                    used = usage.input_tokens + usage.output_tokens if usage else 0
                    await self.tenancy.settle(call.rate_ticket, tokens=used)
            except asyncio.CancelledError:
                cancelled = True  # the settlement itself lands regardless: finish the record first
            self._meter(call, outcome, cost)
            output_attrs = None
            if outcome.output_text is not None and self.tracing.capture_content and call.span.is_recording():
                first_reason = outcome.finish_reasons[0] if outcome.finish_reasons else None
                try:  # off the event loop when long (gateway/tracing/content.py)
                    output_attrs = await content.output_messages_off_loop(
                        outcome.output_text, first_reason, self.tracing.redact
                    )
                except asyncio.CancelledError:
                    cancelled = True
            self._end_span(call, outcome, cost, output_attrs)
            self._log(call, outcome, cost)
        except Exception:
            log.exception("recording LLM request %s failed", call.request_id)
        finally:
            self.concurrency.release(call.tenant.name)
            self._open -= 1
            if self._open <= 0:
                self._open = 0
                self._idle.set()
        if cancelled:
            raise asyncio.CancelledError

    async def _settle(self, call: Call, outcome: Outcome, cost: float) -> None:
        reservation = call.reservation
        if reservation is None or self.settler is None:
            return
        usage = outcome.usage
        generated = usage is not None and (usage.input_tokens or usage.output_tokens)
        if cost > reservation.amount_usd * (1 + 1e-9):
            self.metrics.budget_overruns.labels(self.metrics.tenant_label(call.tenant.name)).inc()
            log.warning(
                "request %s cost $%.6f, more than the $%.6f reserved (upstream usage %s); billed as reported",
                call.request_id, cost, reservation.amount_usd, usage,
            )  # fmt: skip
        # No shield needed: a ledger's settle lands even if its caller is cancelled (SpendLedger.settle).
        await self.settler.settle(reservation, cost if generated else 0.0)

    def _meter(self, call: Call, outcome: Outcome, cost: float) -> None:
        m = self.metrics
        tenant_label = m.tenant_label(call.tenant.name)
        self._in_flight(call.model_label).dec()
        # What served it: the fallback model, when one did.
        served = call.model_label if outcome.lease is None else m.model_label(outcome.lease.model)
        self._requests(tenant_label, served, str(outcome.status)).inc()
        duration = time.perf_counter() - call.started
        self._duration(served, "true" if call.request.stream else "false").observe(duration)
        trace_link = exemplar(call.span)  # read before _end_span: an ended span records nothing
        if outcome.ttft is not None:
            self._ttft(served).observe(outcome.ttft, exemplar=trace_link)
        m.observe_genai_client(
            call.request.operation,
            served,
            duration_s=duration,
            ttft_s=outcome.ttft,
            input_tokens=outcome.usage.input_tokens if outcome.usage else None,
            output_tokens=outcome.usage.output_tokens if outcome.usage else None,
            error_type=outcome.error_type,
            exemplar=trace_link,
        )
        if outcome.gaps:
            tpot = self._tpot(served)
            for gap in outcome.gaps:
                tpot.observe(gap)
        usage = outcome.usage
        if usage is not None:
            self._tokens(tenant_label, served, "input").inc(usage.input_tokens)
            self._tokens(tenant_label, served, "output").inc(usage.output_tokens)
            self._cost(tenant_label, served).inc(cost)
        if isinstance(outcome.error, UpstreamFailure):
            m.llm_upstream_errors.labels(call.model_label, outcome.error.kind).inc()
            if outcome.after_header:
                m.stream_failures.labels(call.model_label, outcome.error.kind).inc()

    def _end_span(
        self, call: Call, outcome: Outcome, cost: float, output_attrs: dict[str, Any] | None
    ) -> None:
        span = call.span
        if not span.is_recording():
            span.end()
            return
        usage = outcome.usage
        lease = outcome.lease
        if lease is not None:
            replica = lease.replica
            span.set_attributes(
                {
                    "server.address": replica.host,
                    "server.port": replica.port,
                    "modelgate.upstream": replica.name,
                }
            )
            if lease.fallback:
                span.set_attribute("modelgate.fallback_model", lease.model)
        span.set_attributes(
            genai.genai_response_attributes(
                response_id=outcome.response_id,
                response_model=outcome.response_model,
                finish_reasons=outcome.finish_reasons,
                input_tokens=usage.input_tokens if usage else None,
                output_tokens=usage.output_tokens if usage else None,
                cost_usd=cost,
                ttft_s=outcome.ttft,
                start_time_ns=getattr(span, "start_time", None),
                usage_estimated=bool(usage and usage.estimated),
            )
        )
        if output_attrs:
            span.set_attributes(output_attrs)
        error_type = outcome.error_type
        if error_type is not None:
            span.set_attributes(genai.error_attributes(error_type))
            message = str(outcome.error) if outcome.error else f"HTTP {outcome.status}"
            span.set_status(Status(StatusCode.ERROR, message))
        span.end()

    def _log(self, call: Call, outcome: Outcome, cost: float) -> None:
        if self.log_writer is None:
            return
        content = self.log_content
        payload = call.request.payload
        usage = outcome.usage
        reserved = call.reservation.amount_usd if call.reservation is not None else None
        overrun = max(0.0, cost - reserved) if reserved is not None else 0.0
        lease = outcome.lease
        self.log_writer.submit(
            {
                "ts": call.ts,
                "model": lease.model if lease is not None else call.request.model,
                "requested_model": call.request.model,
                "upstream": lease.replica.name if lease is not None else None,
                "request_id": call.request_id,
                "client_request_id": call.client_request_id,
                "trace_id": call.trace_id,
                "tenant": call.tenant.name,
                "operation": call.request.operation,
                "stream": call.request.stream,
                "status": outcome.status,
                "input_tokens": usage.input_tokens if usage else 0,
                "output_tokens": usage.output_tokens if usage else 0,
                "usage_estimated": bool(usage and usage.estimated),
                "cost_usd": cost,
                "duration_s": time.perf_counter() - call.started,
                "ttft_s": outcome.ttft,
                "finish_reason": outcome.finish_reasons[0] if outcome.finish_reasons else None,
                "input_messages": json.dumps(payload.get("messages", payload.get("prompt")))
                if content
                else None,
                "output_text": outcome.output_text if content else None,
                "reserved_usd": reserved,
                "budget_overrun_usd": overrun if overrun > 1e-12 else 0.0,
                "error_type": outcome.error_type,
            }
        )
