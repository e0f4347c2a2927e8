"""Build the gateway's tracer: a tracer of its own (never the global provider's), a sampler and an exporter.

Whether tracing is on, where spans go and how they travel come from `gateway.tracing.config`
(`tracing:` in the YAML file and the OTEL_* variables; the table is in docs/tracing.md).

Each app gets its own tracer and span processor (`gateway.tracing.spans.GatewayTracer`: the SDK's
sampling, ids, limits and processors around a leaner span), so tests can build many apps in one process
and nothing else in the process (the Langfuse SDK, a library's instrumentation) changes where the
gateway's spans go.

    tracing = setup_tracing(settings.tracing, service_version=__version__)   # starts the export thread
    ...
    tracing.shutdown()                                                        # on the way out

A trace backend that is down or slow never slows or fails a request: spans are queued in memory by a
`BatchSpanProcessor` and exported from its own thread (by `otlp_export.OTLPHTTPSpanExporter`). When the
queue (`MAX_QUEUE_SIZE` spans) is full the oldest queued span is dropped; one export, retries included,
gives up after the export timeout. `shutdown()` flushes for at most that timeout, then returns and
abandons what is left.

With tracing off the tracer is a no-op, but a caller's W3C context still passes through: the no-op
tracer's spans carry their parent's context, so `inject_headers` forwards the client's `traceparent`
to vLLM unchanged (see `gateway.tracing.middleware.TraceContextPassthrough`).
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.resources import (
    TELEMETRY_SDK_LANGUAGE,
    TELEMETRY_SDK_NAME,
    TELEMETRY_SDK_VERSION,
    Resource,
)
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import Sampler
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.sdk.version import __version__ as sdk_version
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from gateway.tracing.config import ResolvedTracing, TracingConfig, TracingConfigError, resolve_tracing
from gateway.tracing.otlp_export import OTLPHTTPSpanExporter
from gateway.tracing.sampling import SamplingRule
from gateway.tracing.spans import GatewayTracer

__all__ = [
    "INSTRUMENTATION_NAME",
    "MAX_QUEUE_SIZE",
    "Tracing",
    "build_sampler",
    "setup_tracing",
    "tls_context",
    "w3c_propagator",
]

INSTRUMENTATION_NAME = "modelgate"
# Spans held while the backend is slow; beyond this they are dropped, never waited for. At ~1 KiB a
# span this bounds the memory to a few MiB.
MAX_QUEUE_SIZE = 4096
MAX_EXPORT_BATCH_SIZE = 512
# Export every second rather than the SDK's five: traces show up while someone is looking.
SCHEDULE_DELAY_MS = 1000

_log = logging.getLogger(__name__)
_SDK_BATCH_LOGGER = "opentelemetry.sdk._shared_internal"


def w3c_propagator() -> TextMapPropagator:
    """W3C TraceContext + Baggage, whatever OTEL_PROPAGATORS says: vLLM and the collector speak W3C."""
    return CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])


@dataclass
class Tracing:
    """What the app keeps on `app.state.tracing`: the tracer, the propagator and the content policy."""

    tracer: trace.Tracer
    enabled: bool
    propagator: TextMapPropagator
    processor: SpanProcessor | None = None
    capture_content: bool = False
    redact: bool = True
    settings: ResolvedTracing | None = None
    _shutdown_timeout_s: float = field(default=2.0, repr=False)

    @classmethod
    def disabled(cls) -> Tracing:
        """A no-op tracer: spans cost nothing and nothing is exported."""
        return cls(tracer=trace.NoOpTracer(), enabled=False, propagator=w3c_propagator())

    def shutdown(self, timeout_s: float | None = None) -> None:
        """Export what is queued, giving up after `timeout_s` (default: the export timeout). Idempotent."""
        if self.processor is None:
            return
        budget = self._shutdown_timeout_s if timeout_s is None else timeout_s
        processor, self.processor = self.processor, None
        # BatchSpanProcessor.shutdown() takes no timeout and can wait up to 30 s for a dead backend, so
        # it runs on a daemon thread that we stop waiting for once the budget is spent (public API only).
        worker = threading.Thread(target=processor.shutdown, name="modelgate-tracing-shutdown", daemon=True)
        worker.start()
        worker.join(budget)


def setup_tracing(
    config: TracingConfig,
    *,
    service_version: str,
    exporter: SpanExporter | None = None,
    environ: Mapping[str, str] | None = None,
) -> Tracing:
    """Build the gateway's `Tracing` from its config and the `OTEL_*` environment (`os.environ` by default).

    `exporter` replaces the OTLP/HTTP exporter (tests pass an `InMemorySpanExporter`) and is then fed by
    a `SimpleSpanProcessor`, so a span is visible to the test the moment it ends. Raises
    `TracingConfigError` when an `OTEL_*` variable is malformed. Starts one background thread when
    tracing is on: call it from the lifespan, not at import.
    """
    settings = resolve_tracing(
        config, service_version=service_version, environ=os.environ if environ is None else environ
    )
    if not settings.enabled:
        tracing = Tracing.disabled()
        tracing.settings = settings
        return tracing

    processor: SpanProcessor
    if exporter is not None:
        processor = SimpleSpanProcessor(exporter)
    else:
        otlp = OTLPHTTPSpanExporter(
            settings.traces_endpoint,
            headers=settings.headers,
            timeout_s=settings.export_timeout_s,
            compression=settings.compression,
            ssl_context=tls_context(settings),
        )
        processor = BatchSpanProcessor(
            otlp,
            max_queue_size=MAX_QUEUE_SIZE,
            schedule_delay_millis=SCHEDULE_DELAY_MS,
            max_export_batch_size=MAX_EXPORT_BATCH_SIZE,
            export_timeout_millis=settings.export_timeout_s * 1000,
        )
        _limit_drop_warnings()
    tracer = GatewayTracer(
        SamplingRule.named(settings.sampler, settings.sample_ratio),
        _resource(settings.resource_attributes),
        processor,
        InstrumentationScope(INSTRUMENTATION_NAME, service_version),
    )
    _log.info(
        "tracing on: %s, sampler %s(%s), service %s",
        settings.traces_endpoint,
        settings.sampler,
        settings.sample_ratio,
        settings.resource_attributes.get("service.name"),
    )
    return Tracing(
        tracer=tracer,
        enabled=True,
        propagator=w3c_propagator(),
        processor=processor,
        capture_content=settings.capture_content,
        redact=settings.redact,
        settings=settings,
        _shutdown_timeout_s=settings.export_timeout_s,
    )


def tls_context(settings: ResolvedTracing) -> ssl.SSLContext | None:
    """The TLS context the OTEL_EXPORTER_OTLP_*CERTIFICATE / _CLIENT_KEY files ask for; None: the defaults."""
    if settings.certificate is None and settings.client_certificate is None:
        return None
    try:
        context = ssl.create_default_context(cafile=settings.certificate)
    except (ssl.SSLError, OSError):
        raise TracingConfigError(_tls_problem(settings, "CERTIFICATE")) from None
    if settings.client_certificate is not None:
        try:
            context.load_cert_chain(settings.client_certificate, settings.client_key)
        except (ssl.SSLError, OSError):
            raise TracingConfigError(_tls_problem(settings, "CLIENT_CERTIFICATE")) from None
    return context


def _tls_problem(settings: ResolvedTracing, suffix: str) -> str:
    var = settings.sources.get(suffix.lower(), f"OTEL_EXPORTER_OTLP_{suffix}")
    return f"{var}: not a usable PEM file (or it does not match its key)"


def build_sampler(name: str, ratio: float) -> Sampler:
    """The SDK sampler an `OTEL_TRACES_SAMPLER` name stands for (names checked by `resolve_tracing`); the
    tracer decides as it does through `SamplingRule`."""
    return SamplingRule.named(name, ratio).sdk_sampler()


def _resource(attributes: Mapping[str, str]) -> Resource:
    # Not Resource.create(): it reads os.environ itself, which would bypass `environ` and our precedence.
    return Resource(
        {
            TELEMETRY_SDK_LANGUAGE: "python",
            TELEMETRY_SDK_NAME: "opentelemetry",
            TELEMETRY_SDK_VERSION: sdk_version,
            **attributes,
        }
    )


class _OncePerInterval(logging.Filter):
    """Let one "Queue full, dropping" warning through per interval: with the backend down the SDK would
    otherwise log once per span, i.e. once per request."""

    def __init__(self, interval_s: float = 30.0) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._next = 0.0
        self._suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Queue full"):
            return True
        now = time.monotonic()
        if now < self._next:
            self._suppressed += 1
            return False
        if self._suppressed:
            record.msg = f"{record.msg} ({self._suppressed} more drop warnings suppressed)"
        self._next, self._suppressed = now + self.interval_s, 0
        return True


def _limit_drop_warnings() -> None:
    # The SDK's batch processor logs through this module's logger; add the filter once per process.
    logger = logging.getLogger(_SDK_BATCH_LOGGER)
    if not any(isinstance(f, _OncePerInterval) for f in logger.filters):
        logger.addFilter(_OncePerInterval())
