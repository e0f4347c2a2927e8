"""The LLM lane, assembled: admission → upstream call → outcome, and the services each stage uses.

    request = parse_llm_request(body, "chat", svc.policy, svc.limits)      # 400 naming the field
    call = await svc.admission.admit(request, tenant, request_id, trace_id)  # price, concurrency, reserve
    ...                                                                      # routes.py / relay.py
    await svc.recorder.record(call, outcome)                                 # settle, meter, span, log

The upstream is a fleet (gateway/routing/): `svc.route` picks a replica of the model (or of a fallback
model) for each call; `llm.upstream_url` alone is a fleet of one.

`build_llm_service` builds it in the app's lifespan and registers the closing in the order that loses
nothing on SIGTERM: first wait for every admitted call to be recorded (`OutcomeRecorder.drain`), then stop
the settlement journal (one last replay), then close the log writer and the ledger.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

from adapters.vllm.client import ConnectionPool, UpstreamLimits, VLLMClient
from gateway.auth import Tenant
from gateway.budget.factory import create_ledger
from gateway.budget.journal import JournaledSettler
from gateway.budget.pricing import Price
from gateway.llm.admission import Admission, Call, TenantConcurrency
from gateway.llm.fields import FieldPolicy
from gateway.llm.models_list import fleet_models
from gateway.llm.outcome import OutcomeRecorder
from gateway.llm.spend import SpendTracker
from gateway.llm.upstream_call import Route
from gateway.llm.wire import Limits, LLMRequest
from gateway.logcontract.rows import llm_partition
from gateway.logcontract.schemas import LLM_LOG_SCHEMA
from gateway.logwriter import ParquetLogWriter
from gateway.metrics import GatewayMetrics
from gateway.routing.router import Router
from gateway.routing.telemetry import RouterCollector
from gateway.settings import Settings
from gateway.tracing.setup import Tracing

__all__ = ["LLMService", "build_llm_service", "upstream_limits"]

log = logging.getLogger(__name__)


class LLMService:
    def __init__(
        self,
        settings: Settings,
        route: Route,
        admission: Admission,
        recorder: OutcomeRecorder,
        spend: SpendTracker,
        *,
        keeps_text: bool,
    ) -> None:
        llm = settings.llm
        self.settings = settings
        self.route = route
        self.router = route.router
        self.admission = admission
        self.recorder = recorder
        self.spend = spend
        self.policy = FieldPolicy(llm.extra_forward_fields)
        self.limits = Limits(
            max_tokens_cap=llm.max_tokens_cap,
            max_n=llm.max_n,
            max_prompts=llm.max_prompts,
            max_messages=llm.max_messages,
            max_stop=llm.max_stop,
            max_depth=llm.max_json_depth,
        )
        # Streamed text is only assembled when someone will read it (the log or a captured span).
        self.keeps_text = keeps_text

    async def admit(
        self,
        request: LLMRequest,
        tenant: Tenant,
        request_id: str,
        trace_id: str | None,
        client_request_id: str | None = None,
    ) -> Call:
        """Admission, and the promise that `recorder.record` will be called for the returned call."""
        call = await self.admission.admit(request, tenant, request_id, trace_id, client_request_id)
        self.recorder.opened()
        return call

    async def models(self) -> bytes:
        return await fleet_models(self.router)


async def _build_router(settings: Settings, metrics: GatewayMetrics, stack: AsyncExitStack) -> Router:
    """The replicas' clients (one connection pool for all, idle connections kept per replica), the router,
    its gauges, its first health round and its loops."""
    llm = settings.llm
    specs = settings.fleet()
    if not specs:
        raise ValueError("llm.upstream_url or llm.upstreams is not set")
    http = ConnectionPool(pool_size=llm.pool_size, connect_timeout_s=llm.connect_timeout_s)
    stack.push_async_callback(http.aclose)
    router = Router(
        specs,
        {spec.name: VLLMClient(http, spec.url, upstream_limits(settings)) for spec in specs},
        fallbacks=llm.fallbacks,
        routing=llm.routing,
        on_eject=lambda replica, _reason: metrics.upstream_ejections.labels(replica.name).inc(),
    )
    collector = RouterCollector(router)
    metrics.registry.register(collector)
    stack.callback(metrics.registry.unregister, collector)
    await router.start(stack)
    return router


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
    """Build the upstream client, ledger, journal, spend tracker and LLM log writer; register closing them."""
    llm = settings.llm
    router = await _build_router(settings, metrics, stack)
    b = settings.budgets
    ledger = create_ledger(
        b.backend,
        sqlite_path=settings.ledger_path,
        redis_url=b.redis_url,
        reservation_ttl_s=b.reservation_ttl_s,
    )
    stack.push_async_callback(ledger.close)
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
    settler = None
    if llm.billing:
        settler = JournaledSettler(
            ledger,
            settings.settle_journal_dir,
            on_pending=metrics.settle_pending.set,
            on_failure=metrics.settle_failures.inc,
        )
        await settler.start(stack)
    tenants = [Tenant(t.name, t.daily_usd, t.monthly_usd) for t in settings.tenants]  # the app keeps it fresh
    spend = SpendTracker(ledger, metrics, tenants, soft_fraction=b.soft_fraction)
    await spend.start(stack)
    concurrency = TenantConcurrency(llm.max_concurrent_per_tenant)
    recorder = OutcomeRecorder(
        metrics=metrics,
        tracing=tracing,
        settler=settler,
        concurrency=concurrency,
        log_writer=writer,
        log_content=llm.log_content,
    )
    # Closed first (the stack unwinds in reverse): every call still running when uvicorn gave up on it
    # has been cancelled by then and records its outcome while the ledger and the writer still work.
    stack.push_async_callback(recorder.drain, settings.server.drain_timeout_s)
    admission = Admission(
        prices={m: Price(p.input_per_mtok, p.output_per_mtok) for m, p in llm.prices.items()},
        billing=llm.billing,
        ledger=ledger,
        concurrency=concurrency,
        metrics=metrics,
        tracing=tracing,
        router=router,
    )
    keeps_text = llm.log_content or tracing.capture_content
    route = Route(router, metrics, llm.routing.affinity)
    return LLMService(settings, route, admission, recorder, spend, keeps_text=keeps_text)
