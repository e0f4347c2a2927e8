"""The gateway's small bridge to OpenTelemetry: the current trace id, exemplars, the inference span.

Telemetry is failsafe: these helpers never raise into a request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from opentelemetry import trace

from gateway.tracing.genai import churn_inference_attributes
from gateway.tracing.setup import Tracing

__all__ = ["churn_inference_span", "current_trace_id", "trace_exemplar"]


def current_trace_id() -> str | None:
    """32-hex id of the active trace, or None outside one (tracing off)."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def trace_exemplar() -> dict[str, str] | None:
    """`{"trace_id": …}` for a histogram observation, only when the trace is sampled (so it exists)."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid and ctx.trace_flags.sampled:
        return {"trace_id": format(ctx.trace_id, "032x")}
    return None


@contextmanager
def churn_inference_span(
    tracing: Tracing, model_version: str, *, batch_size: int = 1
) -> Iterator[Callable[[float, str], None]]:
    """A child span around model inference; the caller reports score and class through the callback."""
    if not tracing.enabled:
        yield lambda score, label: None
        return
    with tracing.tracer.start_as_current_span("churn.predict") as span:
        span.set_attribute("modelgate.churn.batch_size", batch_size)

        def record(score: float, label: str) -> None:
            span.set_attributes(churn_inference_attributes(model_version, score, label))

        yield record
