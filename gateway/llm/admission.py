"""Admission, the first stage of the LLM lane: price the request, cap the tenant's concurrency, reserve.

Nothing reaches the upstream before `Admission.admit` returns a `Call`, and every `Call` it returns is
ended by exactly one `OutcomeRecorder.record` (gateway/llm/outcome.py), which releases what admission took:

1. price: an unpriced model is a 404 while billing is on (naming a new model gets nobody free tokens);
2. key scope and rate limits (gateway/tenancy/admission.py): 403 `model_not_allowed`, 429
   `rate_limit_exceeded` (rpm / tpm over any 60 s, shared by replicas);
3. concurrency: at most the tenant's `max_concurrency`, else `llm.max_concurrent_per_tenant`, requests of
   one tenant in flight on this replica,
   so one tenant cannot hold every upstream connection (429 `concurrency_limit_exceeded`);
4. reservation: the worst case — input estimate + `LLMRequest.output_bound` output tokens, at the price
   of the dearest model that may serve it (the model or one of its `llm.fallbacks`) — is held
   atomically in the shared ledger, so no burst, stream or second replica can overspend (429
   `budget_exceeded` with `Retry-After` to the window's reset and `x-should-retry: false`). A ledger that
   cannot be reached fails closed (503 `budget_unavailable`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opentelemetry.trace import SpanKind

from gateway.auth import Tenant
from gateway.budget.ledger import Budget, BudgetWouldBeExceeded, LedgerUnavailable, Reservation, SpendLedger
from gateway.budget.pricing import Price, estimate_input_tokens, worst_case_cost
from gateway.budget.windows import window_ends
from gateway.errors import (
    BudgetExceeded,
    BudgetUnavailable,
    ConcurrencyLimitExceeded,
    ModelNotFound,
    RateLimitExceeded,
)
from gateway.llm.wire import LLMRequest
from gateway.metrics import GatewayMetrics, LabelCache
from gateway.ratelimit.limiter import Ticket
from gateway.routing.router import Router
from gateway.tenancy.admission import TenantAdmission
from gateway.tracing import content, genai
from gateway.tracing.setup import Tracing

__all__ = ["Admission", "Call", "TenantConcurrency"]

_FREE = Price(0.0, 0.0)
# The ledger says daily/monthly; metric labels say day/month, like modelgate_tenant_spend_usd{window}.
_WINDOW_LABEL = {"daily": "day", "monthly": "month"}


@dataclass(slots=True)
class Call:
    """One admitted LLM request: what was reserved, and the telemetry to finish when it ends."""

    request: LLMRequest
    tenant: Tenant
    request_id: str
    client_request_id: str | None
    trace_id: str | None
    model_label: str
    price: Price
    input_estimate: int
    reservation: Reservation | None
    span: Any
    started: float
    ts: datetime
    # The fallback models that may serve it (llm.fallbacks) and their prices: the outcome settles at the
    # price of the model that did.
    fallback_prices: dict[str, Price] | None = None

    def price_of(self, served_model: str) -> Price:
        if served_model == self.request.model or not self.fallback_prices:
            return self.price
        return self.fallback_prices.get(served_model, self.price)

    rate_ticket: Ticket | None = None  # the rate limits' hold; its x-ratelimit-* headers go on the response


class TenantConcurrency:
    """Requests in flight per tenant on this replica, against one cap."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_flight: dict[str, int] = {}

    def try_acquire(self, tenant: str, limit: int | None = None) -> bool:
        """Take a slot unless `tenant` has `limit` (default: the shared cap) in flight."""
        n = self._in_flight.get(tenant, 0)
        if n >= (self.limit if limit is None else limit):
            return False
        self._in_flight[tenant] = n + 1
        return True

    def release(self, tenant: str) -> None:
        n = self._in_flight.get(tenant, 0) - 1
        if n > 0:
            self._in_flight[tenant] = n
        else:
            self._in_flight.pop(tenant, None)

    def in_flight(self, tenant: str) -> int:
        return self._in_flight.get(tenant, 0)


class Admission:
    def __init__(
        self,
        *,
        prices: dict[str, Price],
        billing: bool,
        ledger: SpendLedger,
        concurrency: TenantConcurrency,
        metrics: GatewayMetrics,
        tracing: Tracing,
        router: Router,
    ) -> None:
        self.prices = prices
        self.billing = billing
        self.ledger = ledger
        self.concurrency = concurrency
        self.metrics = metrics
        self._in_flight = LabelCache(metrics.llm_in_flight)  # on every request: resolved once per model
        self.tracing = tracing
        # For the models a request may be served by; the chosen replica's address goes on the span
        # once the upstream-call stage has picked it (outcome.py).
        self.router = router
        # Key scopes and rate limits (gateway/tenancy/admission.py); the app fills it in.
        self.tenancy = TenantAdmission()

    def price_for(self, model: str) -> Price:
        if not self.billing:
            return _FREE
        price = self.prices.get(model)
        if price is None:
            raise ModelNotFound(f"model {model!r} is not served here (no price configured)")
        return price

    async def admit(
        self,
        request: LLMRequest,
        tenant: Tenant,
        request_id: str,
        trace_id: str | None,
        client_request_id: str | None = None,
    ) -> Call:
        """Take a concurrency slot and a reservation; raise a GatewayError (nothing held) when refused."""
        self.tenancy.check_scope(tenant, request.model)  # 403 before 404: the key's scope is news to it
        if not self.router.serving(request.model):
            raise ModelNotFound(f"model {request.model!r} is not served here", param="model")
        price = self.price_for(request.model)
        fallbacks = self.router.plan(request.model)[1:]
        fallback_prices = {m: self.price_for(m) for m in fallbacks} if fallbacks else None
        model_label = self.metrics.model_label(request.model)
        input_estimate = estimate_input_tokens(request.payload)
        now = datetime.now(UTC)
        try:
            ticket = await self.tenancy.admit(tenant, tokens=input_estimate + request.output_bound)
        except RateLimitExceeded:
            self._count_refusal(tenant, model_label)
            raise
        limit = tenant.max_concurrency or self.concurrency.limit  # the tenant's own cap wins
        if not self.concurrency.try_acquire(tenant.name, limit):
            await self.tenancy.settle(ticket, tokens=0)
            self.metrics.concurrency_refusals.labels(self.metrics.tenant_label(tenant.name)).inc()
            self._count_refusal(tenant, model_label)
            raise ConcurrencyLimitExceeded(
                f"tenant {tenant.name!r} already has {limit} LLM requests in flight "
                "(its max_concurrency, or llm.max_concurrent_per_tenant); retry when one finishes",
                headers={"retry-after": "1"},
            )
        try:
            worst_price = max(
                (price, *(fallback_prices or {}).values()),
                key=lambda p: worst_case_cost(input_estimate, request.output_bound, p),
            )
            reservation = await self._reserve(request, tenant, worst_price, input_estimate, model_label, now)
        except BaseException:
            self.concurrency.release(tenant.name)
            await self.tenancy.settle(ticket, tokens=0)
            raise
        span = self.tracing.tracer.start_span(
            genai.span_name(request.operation, request.model),
            kind=SpanKind.CLIENT,
            # Built only when someone records them: this runs on every LLM request.
            attributes=self._span_attributes(request, tenant, client_request_id)
            if self.tracing.enabled
            else None,
        )
        if self.tracing.capture_content and span.is_recording():
            # Off the event loop when large: a megabyte prompt must not stall every other tenant.
            span.set_attributes(await content.input_messages_off_loop(request.payload, self.tracing.redact))
        self._in_flight(model_label).inc()
        return Call(
            request, tenant, request_id, client_request_id, trace_id, model_label, price, input_estimate,
            reservation, span, time.perf_counter(), now, fallback_prices, ticket,
        )  # fmt: skip

    async def _reserve(
        self,
        request: LLMRequest,
        tenant: Tenant,
        price: Price,
        input_estimate: int,
        model_label: str,
        now: datetime,
    ) -> Reservation | None:
        if not self.billing:
            return None
        amount = worst_case_cost(input_estimate, request.output_bound, price)
        try:
            return await self.ledger.reserve(
                tenant.name, amount, Budget(tenant.daily_usd, tenant.monthly_usd), now=now
            )
        except BudgetWouldBeExceeded as exc:
            window = _WINDOW_LABEL[exc.window]
            self.metrics.budget_refusals.labels(self.metrics.tenant_label(tenant.name), window).inc()
            self._count_refusal(tenant, model_label)
            day_end, month_end = window_ends(now)
            reset = day_end if exc.window == "daily" else month_end
            raise BudgetExceeded(
                f"tenant {tenant.name!r}: this request could cost up to ${amount:.6f}, which would exceed "
                f"the "
                f"{window} budget of ${exc.limit_usd:.2f} (spent or held ${exc.spent_usd:.6f}); lower "
                f"max_tokens or n, or wait for the {window} window to reset",
                param="max_tokens",
                headers={
                    "retry-after": str(max(1, math.ceil(reset - now.timestamp()))),
                    "x-should-retry": "false",
                },
            ) from None
        except (LedgerUnavailable, OSError, TimeoutError):
            # Fail closed, and say nothing of hosts, paths or the driver's error text.
            raise BudgetUnavailable(
                "the spend ledger is unavailable, so no LLM request can be admitted; retry shortly"
            ) from None

    def _count_refusal(self, tenant: Tenant, model_label: str) -> None:
        self.metrics.llm_requests.labels(self.metrics.tenant_label(tenant.name), model_label, "429").inc()

    def _span_attributes(
        self, request: LLMRequest, tenant: Tenant, client_request_id: str | None
    ) -> dict[str, Any]:
        attrs = genai.genai_request_attributes(
            request.operation, request.payload, server_address=None, server_port=None
        )
        attrs["modelgate.tenant"] = tenant.name
        if client_request_id:
            attrs["modelgate.client_request_id"] = client_request_id
        return attrs
