"""The app factory: `create_app(settings) -> FastAPI`. Nothing is built at import time.

The lifespan builds the services (model, log writers, upstream client, ledger, tracing) and closes them in
reverse on shutdown, which is what makes SIGTERM lose no logged prediction: uvicorn first lets in-flight
requests finish, then the lifespan drains the log queue.

    app = create_app(load_settings("modelgate.yaml"))
    uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.routing import Route

from gateway import ops
from gateway.admin.routes import router as admin_router
from gateway.churn.routes import HOT_ROUTES as CHURN_HOT_ROUTES
from gateway.churn.routes import router as churn_router
from gateway.churn.serving import ChurnServing
from gateway.errors import install_error_handlers
from gateway.hot_routes import HotRoutes
from gateway.job_metrics import JobResultsCollector
from gateway.logcontract.rows import churn_partition
from gateway.logcontract.schemas import PREDICTION_LOG_SCHEMA
from gateway.logwriter import ParquetLogWriter
from gateway.metrics import GatewayMetrics
from gateway.metrics_endpoint import MetricsListener
from gateway.middleware import BodySizeLimitMiddleware, MetricsMiddleware
from gateway.openapi_docs import install_openapi
from gateway.ratelimit.limiter import create_rate_limiter
from gateway.reload import install_reload, reload_config
from gateway.request_id import RequestIdMiddleware
from gateway.services import Services
from gateway.settings import Settings
from gateway.slow_clients import BodyReadTimeoutMiddleware
from gateway.tenancy.admission import TenantAdmission
from gateway.tenancy.config_import import config_snapshot, import_config_tenants
from gateway.tenancy.directory import LiveDirectory
from gateway.tenancy.factory import create_tenant_store
from gateway.tenancy.store import TenantStore
from gateway.tracing.context import exemplar
from gateway.tracing.middleware import instrument_app
from gateway.tracing.setup import Tracing, setup_tracing

__all__ = ["create_app", "gateway_version"]

log = logging.getLogger("modelgate")


def gateway_version() -> str:
    try:
        return version("modelgate")
    except PackageNotFoundError:
        return "0+unknown"


def _load_churn(
    settings: Settings, metrics: GatewayMetrics, stack: AsyncExitStack
) -> tuple[ChurnServing | None, str | None]:
    from adapters.churn.predictor import ChurnPredictor

    artifact: Path = settings.artifact_dir
    try:
        predictor = ChurnPredictor.load(artifact)
    except Exception as exc:  # the gateway still serves the LLM lane; /readyz says why churn is down
        log.error("churn model at %s not loaded: %s", artifact, exc)
        # /readyz and the churn routes say which kind of problem, never the path or the exception text.
        missing = not (artifact / "metadata.json").exists()
        return None, "artifact_missing" if missing else "artifact_unreadable"
    metrics.model_loaded.labels("churn", predictor.version).set(1)
    writer = None
    if settings.prediction_log.enabled:
        counter = metrics.prediction_log_rows
        writer = ParquetLogWriter(
            settings.prediction_log_uri,
            PREDICTION_LOG_SCHEMA,
            partition_by=churn_partition,
            flush_rows=settings.prediction_log.flush_rows,
            flush_seconds=settings.prediction_log.flush_seconds,
            queue_size=settings.prediction_log.queue_size,
            on_outcome=lambda outcome, n: counter.labels(outcome).inc(n),
        )
        writer.start()
        stack.callback(writer.close)
    return ChurnServing(predictor, metrics, writer), None


async def _start_tenancy(
    settings: Settings, metrics: GatewayMetrics, stack: AsyncExitStack
) -> tuple[LiveDirectory, TenantStore]:
    """Open the tenant store, import modelgate.yaml's tenants, load the directory and keep it fresh."""
    store = create_tenant_store(settings)
    stack.push_async_callback(store.close)
    dev_key = settings.development_key if settings.mode == "development" else None
    directory = LiveDirectory(
        store, metrics, dev_key=dev_key, refresh_interval_s=settings.tenancy.refresh_interval_s
    )
    directory.on_change(lambda tenants: metrics.set_tenants(tenants))
    now = time.time()
    await directory.start(
        stack,
        setup=lambda: import_config_tenants(store, settings.tenants, now=time.time()),
        fallback=config_snapshot(settings.tenants, now=now),
    )
    return directory, store


def create_app(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    tracing: Tracing | None = None,
    config_path: Path | None = None,
) -> FastAPI:
    """Build the gateway. Tests pass their own registry and a tracing set up with an in-memory exporter.

    With `config_path` (as `modelgate serve` passes it) SIGHUP reloads that file (gateway/reload.py); the
    app's `state.reload()` does the same from a test.
    """
    registry = registry if registry is not None else CollectorRegistry()
    tenant_names = {t.name for t in settings.tenants}
    if settings.development_key:
        tenant_names.add("dev")
    metrics = GatewayMetrics(
        registry, tenants=tenant_names, models=settings.llm.models, version=gateway_version()
    )
    registry.register(JobResultsCollector(settings.results_dir))
    tracing = tracing or setup_tracing(settings.tracing, service_version=gateway_version())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            stack.callback(tracing.shutdown)
            server = settings.server
            if server.metrics_port is not None:
                listener = MetricsListener(
                    registry, host=server.metrics_host, port=server.metrics_port,
                    token_sha256=server.metrics_token_sha256,
                )  # fmt: skip
                listener.start()
                stack.callback(listener.stop)
            directory, store = await _start_tenancy(settings, metrics, stack)
            services = Services(settings=settings, metrics=metrics, tenants=directory, tracing=tracing)
            services.store = store
            limiter = create_rate_limiter(settings.budgets.backend, settings.budgets.redis_url, metrics)
            stack.push_async_callback(limiter.close)
            services.rate_limiter = limiter
            services.churn, services.churn_error = _load_churn(settings, metrics, stack)
            if settings.llm_configured:
                from gateway.llm.service import build_llm_service

                llm = services.llm = await build_llm_service(settings, metrics, tracing, stack)
                llm.admission.tenancy = llm.recorder.tenancy = TenantAdmission(directory, limiter)
                directory.on_change(lambda tenants: setattr(llm.spend, "tenants", list(tenants.values())))
            app.state.services = services
            if config_path is not None:
                app.state.reload = lambda: reload_config(services, config_path)
                install_reload(services, config_path, stack)
            yield

    app = FastAPI(
        title="modelgate",
        version=gateway_version(),
        lifespan=lifespan,
        docs_url="/docs" if settings.server.docs_enabled else None,
        openapi_url="/openapi.json" if settings.server.docs_enabled else None,
        redoc_url=None,
        # FastAPI's built-in OpenTelemetry follows the global provider (which the Langfuse SDK may set):
        # off, so each request gets exactly one server span, ours (gateway/tracing/middleware.py).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.registry = registry
    app.state.metrics_token_sha256 = settings.server.metrics_token_sha256
    install_error_handlers(app)
    # The churn router before the ops one: routes are matched in order and each included router's
    # match is costly (36 µs a churn request behind ops, issue 18). No path is in both.
    app.include_router(churn_router)
    app.include_router(ops.router)
    if settings.server.metrics_port is None:  # else only on its own listener, never on the API port
        app.include_router(ops.metrics_router)
    app.include_router(admin_router)
    hot: list[Route] = list(CHURN_HOT_ROUTES)
    if settings.llm_configured:
        from gateway.llm.routes import install_llm_routes

        hot += install_llm_routes(app)
    install_openapi(app, llm=settings.llm_configured)
    # Added last = outermost. Tracing wraps the request id (so the span gets it) and timing (so exemplars
    # see the request's span); timing wraps the body guards (so 408s and 413s are counted). The hot
    # routes are served innermost, inside the body guards (gateway/hot_routes.py).
    app.add_middleware(HotRoutes, routes=hot)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.server.max_body_bytes)
    app.add_middleware(BodyReadTimeoutMiddleware, timeout_s=settings.server.body_read_timeout_s)
    app.add_middleware(MetricsMiddleware, metrics=metrics, exemplar=exemplar)
    app.add_middleware(RequestIdMiddleware)
    instrument_app(app, tracing)
    return app
