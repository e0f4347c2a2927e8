"""The churn inference span. Telemetry is failsafe: nothing here raises into a request."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from gateway.tracing.genai import churn_inference_attributes
from gateway.tracing.setup import Tracing

__all__ = ["churn_inference_span"]


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
