"""Optional OTLP tracing for the simulator: one SERVER span per generation request that carries a
W3C `traceparent`, as vLLM records when started with `--otlp-traces-endpoint`.

The span is named `llm_request` and carries vLLM's attributes (`gen_ai.request.id`,
`gen_ai.usage.prompt_tokens`, `gen_ai.latency.time_to_first_token`, ...) plus the current GenAI
semantic-convention ones (`gen_ai.request.model`, `gen_ai.usage.input_tokens`, ...), on a resource with
`service.name = vllm-sim`, exported by a BatchSpanProcessor over OTLP/HTTP. OpenTelemetry is imported
only when a tracer is built, so with tracing off the simulator pays nothing for it.

    endpoint = resolve_traces_endpoint(args.otlp_endpoint, os.environ)   # None: tracing off
    tracer = SimTracer(endpoint, "vllm-sim") if endpoint else None
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = ["SPAN_NAME", "SimTracer", "resolve_traces_endpoint"]

SPAN_NAME = "llm_request"
_TRACES_PATH = "/v1/traces"


def resolve_traces_endpoint(cli_value: str | None, env: Mapping[str, str]) -> str | None:
    """The OTLP/HTTP traces URL: `--otlp-endpoint`, else the standard OTEL_EXPORTER_OTLP_* variables.

    A base URL (no path) gets `/v1/traces` appended, as the OTLP exporter spec does for
    OTEL_EXPORTER_OTLP_ENDPOINT; OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as given.
    """
    if cli_value:
        return _with_traces_path(cli_value)
    traces = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if traces:
        return traces
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    return _with_traces_path(base) if base else None


def _with_traces_path(url: str) -> str:
    url = url.rstrip("/")
    scheme_sep = url.find("://")
    has_path = "/" in url[scheme_sep + 3 :] if scheme_sep >= 0 else "/" in url
    return url if has_path else url + _TRACES_PATH


class SimTracer:
    """Builds the tracer provider (not the global one) and records request spans."""

    def __init__(self, endpoint: str, service_name: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._provider: TracerProvider = TracerProvider(
            resource=Resource.create({"service.name": service_name})
        )
        self._provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        self._tracer: Tracer = self._provider.get_tracer("adapters.vllm.sim")
        self._propagator: TraceContextTextMapPropagator = TraceContextTextMapPropagator()

    def start(self, headers: Sequence[tuple[bytes, bytes]], start_ns: int) -> Span | None:
        """A SERVER span parented on the request's `traceparent`, or None when it has none."""
        carrier = {}
        for key, value in headers:
            if key in (b"traceparent", b"tracestate"):
                carrier[key.decode("latin-1")] = value.decode("latin-1")
        if "traceparent" not in carrier:
            return None
        from opentelemetry.trace import SpanKind

        context = self._propagator.extract(carrier)
        return self._tracer.start_span(SPAN_NAME, context=context, kind=SpanKind.SERVER, start_time=start_ns)

    @staticmethod
    def finish(span: Span, attributes: Mapping[str, Any], error: str | None = None) -> None:
        """Set the request's attributes (None values skipped) and end the span, marking errors."""
        span.set_attributes({k: v for k, v in attributes.items() if v is not None})
        if error is not None:
            from opentelemetry.trace import Status, StatusCode

            span.set_attribute("error.type", error)
            span.set_status(Status(StatusCode.ERROR, error))
        span.end()

    def shutdown(self) -> None:
        """Flush queued spans and stop the exporter."""
        self._provider.shutdown()
