"""LLM serving logic: reserve the worst case, call the upstream, settle to what it really cost.

Order matters and is the whole point:
1. the tenant's worst-case cost (input estimate + max_tokens × output price) is reserved atomically in the
   shared ledger, so no burst, stream or second replica can overspend; a refusal happens before any upstream
   call;
2. the upstream is called (streams relayed chunk by chunk, see relay.py);
3. the reservation is settled to the upstream's reported usage — also when the client disconnects (the
   tokens already delivered are billed) — or released when nothing was delivered.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode

from adapters.vllm.client import Upstream, UpstreamLimits, VLLMClient, make_session
from adapters.vllm.errors import UpstreamFailure
from gateway.auth import Tenant, TenantDirectory
from gateway.budget.factory import create_ledger
from gateway.budget.ledger import Budget, LedgerUnavailable, Reservation, SpendLedger
from gateway.budget.ledger import BudgetExceeded as LedgerBudgetExceeded
from gateway.budget.pricing import Price, cost_usd, estimate_input_tokens, worst_case_cost
from gateway.errors import BudgetExceeded, GatewayError, NotFound, ServiceNotReady
from gateway.llm.accounting import Usage
from gateway.llm.protocol import LLMRequest
from gateway.llm.spend import SpendTracker
from gateway.llm.upstream_errors import to_gateway_error
from gateway.log_schemas import LLM_LOG_SCHEMA, llm_partition
from gateway.logwriter import ParquetLogWriter
from gateway.metrics import GatewayMetrics
from gateway.settings import Settings
from gateway.tracing import content, genai
from gateway.tracing.context import inject_headers
from gateway.tracing.setup import Tracing

__all__ = ["Call", "LLMService", "build_llm_service", "upstream_limits"]

log = logging.getLogger(__name__)

_FREE = Price(0.0, 0.0)
# The ledger says daily/monthly; metric labels say day/month, like modelgate_tenant_spend_usd{window}.
_WINDOW_LABEL = {"daily": "day", "monthly": "month"}


@dataclass
class Call:
    """One LLM request in flight: what was reserved, and the telemetry to finish when it ends."""

    request: LLMRequest
    tenant: Tenant
    request_id: str
    trace_id: str | None
    model_label: str
    price: Price
    input_estimate: int
    reservation: Reservation | None
    span: Any
    started: float
    ts: datetime


class LLMService:
    def __init__(
        self,
        settings: Settings,
        metrics: GatewayMetrics,
        tracing: Tracing,
        upstream: Upstream,
        ledger: SpendLedger,
        spend: SpendTracker,
        log_writer: ParquetLogWriter | None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.tracing = tracing
        self.upstream = upstream
        self.ledger = ledger
        self.spend = spend
        self.log_writer = log_writer
        self.prices = {m: Price(p.input_per_mtok, p.output_per_mtok) for m, p in settings.llm.prices.items()}
        self.log_content = settings.llm.log_content
        # Streamed text is only assembled when someone will read it (the log or a captured span).
        self.keeps_text = settings.llm.log_content or tracing.capture_content

    def price_for(self, model: str) -> Price:
        if not self.settings.llm.billing:
            return _FREE
        price = self.prices.get(model)
        if price is None:
            # Unknown models are refused when billing is on: naming a new model gets nobody free tokens.
            raise NotFound(f"model {model!r} is not served here (no price configured)", param="model")
        return price

    async def begin(self, request: LLMRequest, tenant: Tenant, request_id: str, trace_id: str | None) -> Call:
        """Reserve the worst case and open the client span. Raises BudgetExceeded before any upstream call."""
        price = self.price_for(request.model)
        model_label = self.metrics.model_label(request.model)
        input_estimate = estimate_input_tokens(request.payload)
        reservation = None
        now = datetime.now(UTC)
        if self.settings.llm.billing:
            amount = worst_case_cost(
                input_estimate,
                request.max_tokens,
                price,
                max_tokens_cap=self.settings.llm.max_tokens_cap,
                n=request.choices,
            )
            budget = Budget(tenant.daily_usd, tenant.monthly_usd)
            try:
                reservation = await self.ledger.reserve(tenant.name, amount, budget, now=now)
            except LedgerBudgetExceeded as exc:
                window = _WINDOW_LABEL[exc.window]
                self.metrics.budget_refusals.labels(self.metrics.tenant_label(tenant.name), window).inc()
                self.metrics.llm_requests.labels(
                    self.metrics.tenant_label(tenant.name), model_label, "429"
                ).inc()
                raise BudgetExceeded(
                    f"tenant {tenant.name!r}: this request could cost up to ${amount:.6f}, which would "
                    "exceed the "
                    f"{window} budget of ${exc.limit_usd:.2f} (spent ${exc.spent_usd:.6f}); "
                    "lower max_tokens or raise the budget",
                    param="max_tokens",
                ) from None
            except LedgerUnavailable as exc:
                raise ServiceNotReady(f"spend ledger unavailable: {exc}") from None
        span = self.tracing.tracer.start_span(
            genai.span_name(request.operation, request.model),
            kind=SpanKind.CLIENT,
            # Built only when someone records them: this runs on every LLM request.
            attributes=self._request_attributes(request, tenant) if self.tracing.enabled else None,
        )
        if self.tracing.capture_content and span.is_recording():
            # Off the event loop when large: a megabyte prompt must not stall every other tenant.
            span.set_attributes(await content.input_messages_off_loop(request.payload, self.tracing.redact))
        self.metrics.llm_in_flight.labels(model_label).inc()
        return Call(
            request, tenant, request_id, trace_id, model_label, price, input_estimate, reservation, span,
            time.perf_counter(), now,
        )  # fmt: skip

    def _request_attributes(self, request: LLMRequest, tenant: Tenant) -> dict[str, Any]:
        base = self.upstream.base_url
        host, _, port = base.split("://", 1)[-1].split("/", 1)[0].partition(":")
        attrs = genai.genai_request_attributes(
            request.operation,
            request.payload,
            server_address=host,
            server_port=int(port) if port.isdigit() else None,
        )
        attrs["modelgate.tenant"] = tenant.name
        return attrs

    def upstream_headers(self, call: Call) -> dict[str, str]:
        headers = {"x-request-id": call.request_id}
        # W3C traceparent with the client span as parent, so vLLM's own span joins this trace.
        inject_headers(headers, span=call.span)
        return headers

    async def finish(
        self,
        call: Call,
        *,
        status: int,
        usage: Usage | None,
        ttft: float | None = None,
        gaps: list[float] | None = None,
        finish_reasons: list[str] | None = None,
        response_id: str | None = None,
        response_model: str | None = None,
        output_text: str | None = None,
        error: UpstreamFailure | GatewayError | None = None,
    ) -> None:
        """Settle the reservation and record every signal. Never raises: the response is already decided."""
        try:
            await self._finish(
                call, status, usage, ttft, gaps or [], finish_reasons or [], response_id, response_model,
                output_text, error,
            )  # fmt: skip
        except Exception:
            log.exception("finishing LLM request %s failed", call.request_id)

    async def _finish(
        self,
        call: Call,
        status: int,
        usage: Usage | None,
        ttft: float | None,
        gaps: list[float],
        finish_reasons: list[str],
        response_id: str | None,
        response_model: str | None,
        output_text: str | None,
        error: UpstreamFailure | GatewayError | None,
    ) -> None:
        m = self.metrics
        duration = time.perf_counter() - call.started
        cost = cost_usd(usage.input_tokens, usage.output_tokens, call.price) if usage else 0.0
        if call.reservation is not None:
            if usage is not None and (usage.input_tokens or usage.output_tokens):
                await self.ledger.settle(call.reservation, cost)
            else:
                await self.ledger.release(call.reservation)
        tenant_label = m.tenant_label(call.tenant.name)
        m.llm_in_flight.labels(call.model_label).dec()
        m.llm_requests.labels(tenant_label, call.model_label, str(status)).inc()
        m.llm_duration.labels(call.model_label, "true" if call.request.stream else "false").observe(duration)
        if ttft is not None:
            m.ttft.labels(call.model_label).observe(ttft)
        if gaps:
            tpot = m.tpot.labels(call.model_label)
            for gap in gaps:
                tpot.observe(gap)
        if usage is not None:
            m.llm_tokens.labels(tenant_label, call.model_label, "input").inc(usage.input_tokens)
            m.llm_tokens.labels(tenant_label, call.model_label, "output").inc(usage.output_tokens)
            m.llm_cost.labels(tenant_label, call.model_label).inc(cost)
        if isinstance(error, UpstreamFailure):
            m.llm_upstream_errors.labels(call.model_label, error.kind).inc()
        output_attrs = None
        if output_text is not None and self.tracing.capture_content and call.span.is_recording():
            reason = finish_reasons[0] if finish_reasons else None
            output_attrs = await content.output_messages_off_loop(output_text, reason, self.tracing.redact)
        self._end_span(
            call, status, usage, cost, ttft, finish_reasons, response_id, response_model, output_attrs, error
        )
        self._log(call, status, usage, cost, duration, ttft, finish_reasons, output_text)

    def _end_span(
        self,
        call: Call,
        status: int,
        usage: Usage | None,
        cost: float,
        ttft: float | None,
        finish_reasons: list[str],
        response_id: str | None,
        response_model: str | None,
        output_attrs: dict[str, Any] | None,
        error: UpstreamFailure | GatewayError | None,
    ) -> None:
        span = call.span
        if not span.is_recording():
            span.end()
            return
        span.set_attributes(
            genai.genai_response_attributes(
                response_id=response_id,
                response_model=response_model,
                finish_reasons=finish_reasons,
                input_tokens=usage.input_tokens if usage else None,
                output_tokens=usage.output_tokens if usage else None,
                cost_usd=cost,
                ttft_s=ttft,
                start_time_ns=getattr(span, "start_time", None),
                usage_estimated=bool(usage and usage.estimated),
            )
        )
        if output_attrs:
            span.set_attributes(output_attrs)
        if error is not None or status >= 500:
            error_type = (
                error.kind
                if isinstance(error, UpstreamFailure)
                else (type(error).__name__ if error else str(status))
            )
            span.set_attributes(genai.error_attributes(error_type))
            span.set_status(Status(StatusCode.ERROR, str(error) if error else f"HTTP {status}"))
        span.end()

    def _log(
        self,
        call: Call,
        status: int,
        usage: Usage | None,
        cost: float,
        duration: float,
        ttft: float | None,
        finish_reasons: list[str],
        output_text: str | None,
    ) -> None:
        if self.log_writer is None:
            return
        content = self.log_content
        prompt = call.request.payload.get("messages", call.request.payload.get("prompt"))
        self.log_writer.submit(
            {
                "ts": call.ts,
                "model": call.request.model,
                "request_id": call.request_id,
                "trace_id": call.trace_id,
                "tenant": call.tenant.name,
                "operation": call.request.operation,
                "stream": call.request.stream,
                "status": status,
                "input_tokens": usage.input_tokens if usage else 0,
                "output_tokens": usage.output_tokens if usage else 0,
                "usage_estimated": bool(usage and usage.estimated),
                "cost_usd": cost,
                "duration_s": duration,
                "ttft_s": ttft,
                "finish_reason": finish_reasons[0] if finish_reasons else None,
                "input_messages": json.dumps(prompt) if content else None,
                "output_text": output_text if content else None,
            }
        )

    def translate(self, exc: UpstreamFailure) -> GatewayError:
        return to_gateway_error(exc)

    async def models(self) -> bytes:
        return await self.upstream.get_json("/models")

    async def aclose(self) -> None:
        await self.upstream.aclose()


def upstream_limits(settings: Settings) -> UpstreamLimits:
    """The upstream client's deadlines and size limits, from `llm.*`."""
    llm = settings.llm
    return UpstreamLimits(
        first_byte_timeout_s=llm.first_byte_timeout_s,
        chunk_timeout_s=llm.chunk_timeout_s,
        total_timeout_s=llm.total_timeout_s,
        max_sse_line_bytes=llm.max_sse_line_bytes,
        max_sse_event_bytes=llm.max_sse_event_bytes,
        max_body_bytes=llm.max_response_bytes,
    )


async def build_llm_service(
    settings: Settings, metrics: GatewayMetrics, tracing: Tracing, stack: AsyncExitStack
) -> LLMService:
    """Build the upstream client, ledger, spend tracker and LLM log writer; register their closing."""
    llm = settings.llm
    if llm.upstream_url is None:
        raise ValueError("llm.upstream_url is not set")
    http = make_session(pool_size=llm.pool_size, connect_timeout_s=llm.connect_timeout_s)
    upstream = VLLMClient(http, llm.upstream_url, upstream_limits(settings))
    stack.push_async_callback(upstream.aclose)
    b = settings.budgets
    ledger = create_ledger(
        b.backend,
        sqlite_path=settings.ledger_path,
        redis_url=b.redis_url,
        reservation_ttl_s=b.reservation_ttl_s,
    )
    stack.push_async_callback(ledger.close)
    tenants = list(TenantDirectory.from_settings(settings).tenants.values())
    spend = SpendTracker(ledger, metrics, tenants, soft_fraction=b.soft_fraction)
    await spend.start(stack)
    writer = ParquetLogWriter(
        settings.llm_log_uri,
        LLM_LOG_SCHEMA,
        partition_by=llm_partition,
        flush_rows=settings.prediction_log.flush_rows,
        flush_seconds=settings.prediction_log.flush_seconds,
        queue_size=settings.prediction_log.queue_size,
        on_outcome=lambda outcome, n: metrics.llm_log_rows.labels(outcome).inc(n),
    )
    writer.start()
    stack.callback(writer.close)
    return LLMService(settings, metrics, tracing, upstream, ledger, spend, writer)
