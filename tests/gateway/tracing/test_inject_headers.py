"""`inject_headers` writes the W3C headers itself: they must be the ones the SDK's propagators write.

Each case runs both ways in the same context: `inject_headers(headers)` (ours) and
`inject_headers(headers, propagator=w3c_propagator())` (the SDK's CompositePropagator of TraceContext
and Baggage), for the current span and for a span passed in, with and without trace state and baggage.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from gateway.tracing.context import inject_headers
from gateway.tracing.setup import w3c_propagator

SAMPLED = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, False, TraceFlags(1))
UNSAMPLED = SpanContext(0x1, 0x2, True, TraceFlags(0))
WITH_STATE = SpanContext(0xABC, 0xDEF, True, TraceFlags(1), TraceState([("vendor", "x=1"), ("other", "2")]))
# Not valid, but not INVALID_SPAN_CONTEXT either: the SDK writes it; so do we (no second opinion).
ODD = SpanContext(0, 0xDEF, False, TraceFlags(1))


@contextmanager
def current(span_context: SpanContext | None, with_baggage: bool) -> Iterator[None]:
    ctx = otel_context.get_current()
    if span_context is not None:
        ctx = trace.set_span_in_context(NonRecordingSpan(span_context), ctx)
    if with_baggage:
        ctx = baggage.set_baggage("tenant", "acme corp", ctx)
        ctx = baggage.set_baggage("k", "v=1;x", ctx)
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)


@pytest.mark.parametrize("span_context", [SAMPLED, UNSAMPLED, WITH_STATE, ODD, None])
@pytest.mark.parametrize("with_baggage", [False, True])
@pytest.mark.parametrize("passed", [False, True])
def test_the_headers_are_the_sdk_propagators_own(
    span_context: SpanContext | None, with_baggage: bool, passed: bool
) -> None:
    explicit = NonRecordingSpan(WITH_STATE if span_context is None else span_context) if passed else None
    with current(span_context if not passed else SAMPLED, with_baggage):
        ours: dict[str, str] = {"x-request-id": "r1"}
        sdk: dict[str, str] = {"x-request-id": "r1"}
        inject_headers(ours, span=explicit)
        inject_headers(sdk, span=explicit, propagator=w3c_propagator())
    assert ours == sdk
    assert ("traceparent" in ours) == (passed or span_context is not None)


def test_no_trace_and_no_baggage_adds_nothing() -> None:
    headers: dict[str, str] = {}
    inject_headers(headers)
    assert headers == {}
