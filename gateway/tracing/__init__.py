"""OpenTelemetry tracing for the gateway: config, a provider of its own, the request span, GenAI attributes.

    from gateway.tracing import instrument_app, setup_tracing

    tracing = setup_tracing(settings.tracing, service_version=version)   # starts the export thread
    instrument_app(app, tracing)                                         # one SERVER span per request
    ...
    tracing.shutdown()                                                   # bounded flush on the way out

Modules: `config` (the `tracing:` section and the OTEL_* precedence), `setup` (provider, sampler,
exporter), `middleware` (the request span, `x-trace-id`), `passthrough` (a caller's context with
tracing off), `context` (trace ids for logs and exemplars, tenant, upstream headers), `genai` (GenAI
semantic-convention attributes), `redact` (PII in content).
Importing this package starts nothing and reads no environment.
"""

from gateway.tracing.config import ResolvedTracing, TracingConfig, TracingConfigError, resolve_tracing
from gateway.tracing.context import current_trace_id, exemplar, inject_headers, set_tenant
from gateway.tracing.genai import (
    TENANT_ATTRIBUTE,
    churn_inference_attributes,
    error_attributes,
    genai_request_attributes,
    genai_response_attributes,
    input_messages_attribute,
    output_messages_attribute,
    span_name,
)
from gateway.tracing.middleware import TRACE_ID_HEADER, TracingMiddleware, instrument_app
from gateway.tracing.redact import redact
from gateway.tracing.setup import Tracing, setup_tracing

__all__ = [
    "TENANT_ATTRIBUTE",
    "TRACE_ID_HEADER",
    "ResolvedTracing",
    "Tracing",
    "TracingConfig",
    "TracingConfigError",
    "TracingMiddleware",
    "churn_inference_attributes",
    "current_trace_id",
    "error_attributes",
    "exemplar",
    "genai_request_attributes",
    "genai_response_attributes",
    "inject_headers",
    "input_messages_attribute",
    "instrument_app",
    "output_messages_attribute",
    "redact",
    "resolve_tracing",
    "set_tenant",
    "setup_tracing",
    "span_name",
]
