"""The churn inference span. Telemetry is failsafe: nothing here raises into a request."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from opentelemetry.trace import StatusCode

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
    # start_span, not start_as_current_span: nothing runs under this span, so making it current (and
    # the SDK's two context managers around that) would only cost CPU on every prediction.
    span = tracing.tracer.start_span("churn.predict", attributes={"modelgate.churn.batch_size": batch_size})

    def record(score: float, label: str) -> None:
        span.set_attributes(churn_inference_attributes(model_version, score, label))

    try:
        yield record
    except BaseException as exc:  # as start_as_current_span records it
        span.record_exception(exc)
        span.set_status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        span.end()
