"""GatewayTracer against the SDK's own Tracer: the same calls must export the same span, byte for byte.

Each scenario runs once through `TracerProvider().get_tracer()` and once through `GatewayTracer`, with
the same sampler, limits, resource, scope, a deterministic id generator and fixed timestamps, and
compares the exported `ReadableSpan`s field by field and as OTLP bytes (`SpanEncoder`).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from gateway.tracing.otlp_wire import SpanEncoder
from gateway.tracing.spans import GatewayTracer

RESOURCE = Resource({"service.name": "gw", "telemetry.sdk.language": "python"})
SCOPE = InstrumentationScope("modelgate", "1.2.3")
T0 = 1_700_000_000_000_000_000
CLOCK_NS = 10**12  # any time past T0 + this came from the clock


class CountingIds(IdGenerator):
    """Deterministic ids, so both tracers give the same span the same ids."""

    def __init__(self) -> None:
        self._ids = itertools.count(0x1000)

    def generate_span_id(self) -> int:
        return next(self._ids)

    def generate_trace_id(self) -> int:
        return next(self._ids) << 64 | 0xABCDEF

    def is_trace_id_random(self) -> bool:
        return True


Scenario = Callable[[trace.Tracer], None]


def _both(
    scenario: Scenario, *, sampler: Sampler | None = None, limits: SpanLimits | None = None
) -> tuple[tuple[ReadableSpan, ...], tuple[ReadableSpan, ...]]:
    sampler = sampler if sampler is not None else ParentBased(TraceIdRatioBased(1.0))
    limits = limits if limits is not None else SpanLimits()
    sdk_out, ours_out = InMemorySpanExporter(), InMemorySpanExporter()
    provider = TracerProvider(
        sampler=sampler,
        resource=RESOURCE,
        id_generator=CountingIds(),
        span_limits=limits,
        shutdown_on_exit=False,
    )
    provider.add_span_processor(SimpleSpanProcessor(sdk_out))
    scenario(provider.get_tracer(SCOPE.name, SCOPE.version))
    ours = GatewayTracer(
        sampler, RESOURCE, SimpleSpanProcessor(ours_out), SCOPE, limits=limits, id_generator=CountingIds()
    )
    scenario(ours)
    return sdk_out.get_finished_spans(), ours_out.get_finished_spans()


def _view(span: ReadableSpan) -> dict[str, Any]:
    return {
        "name": span.name,
        "context": span.context,
        "parent": span.parent,
        "kind": span.kind,
        "attributes": dict(span.attributes or {}),
        "events": [(e.name, dict(e.attributes or {}), e.timestamp is not None) for e in span.events],
        "links": [(link.context, dict(link.attributes or {})) for link in span.links],
        "status": (span.status.status_code, span.status.description),
        # A span ended by the clock (start_as_current_span) cannot be given a fixed end time.
        "times": (span.start_time, "clock" if (span.end_time or 0) > T0 + CLOCK_NS else span.end_time),
        "dropped": (span.dropped_attributes, span.dropped_events, span.dropped_links),
        "resource": span.resource.attributes,
        "scope": span.instrumentation_scope,
    }


def _assert_same(sdk: tuple[ReadableSpan, ...], ours: tuple[ReadableSpan, ...]) -> None:
    assert len(sdk) == len(ours) > 0
    for a, b in zip(sdk, ours, strict=True):
        view_a, view_b = _view(a), _view(b)
        # The exception event's stacktrace names the tracer's own frames; compare it apart.
        for view in (view_a, view_b):
            for _, attrs, _ in view["events"]:
                attrs.pop("exception.stacktrace", None)
        assert view_a == view_b
    fixed = [_fixed_event_times(s) for s in (sdk, ours)]
    assert SpanEncoder().encode(fixed[0]) == SpanEncoder().encode(fixed[1])


def _fixed_event_times(spans: tuple[ReadableSpan, ...]) -> list[ReadableSpan]:
    # Event timestamps (and the end of a span ended by a context manager) come from the clock; the
    # encoding comparison needs them equal.
    for span in spans:
        if (span.end_time or 0) > T0 + CLOCK_NS:
            span._end_time = T0 + 1  # type: ignore[attr-defined]
        for event in span.events:
            event._timestamp = T0  # type: ignore[attr-defined]
            if "exception.stacktrace" in (event.attributes or {}):
                event._attributes = {k: v for k, v in event.attributes.items() if k != "exception.stacktrace"}  # type: ignore[attr-defined,union-attr]
    return list(spans)


def server_and_child(tracer: trace.Tracer) -> None:
    server = tracer.start_span(
        "POST",
        kind=SpanKind.SERVER,
        attributes={"http.request.method": "POST", "server.port": 8000, "url.path": "/v1/churn/predict"},
        start_time=T0,
    )
    token = otel_context.attach(trace.set_span_in_context(server))
    try:
        child = tracer.start_span(
            "churn.predict", attributes={"modelgate.churn.batch_size": 1}, start_time=T0 + 5
        )
        child.set_attributes({"modelgate.churn.score": 0.25, "modelgate.churn.prediction": "stay"})
        child.end(T0 + 9)
    finally:
        otel_context.detach(token)
    server.update_name("POST /v1/churn/predict")
    server.set_attributes({"http.route": "/v1/churn/predict", "http.response.status_code": 200, "ok": True})
    server.end(T0 + 20)


def odd_values(tracer: trace.Tracer) -> None:
    span = tracer.start_span("odd", attributes={"list": ["a", "b"], "none": None}, start_time=T0)  # type: ignore[dict-item]
    span.set_attribute("mixed", [1, "x"])  # type: ignore[list-item]
    span.set_attribute("nested", {"a": 1})  # type: ignore[arg-type]
    span.set_attribute("", "empty key")
    span.set_attribute("ints", (1, 2, 3))
    span.set_attribute("big", 2**70)
    span.set_attribute("plain", "still here")
    span.end(T0 + 1)


def sequences(tracer: trace.Tracer) -> None:
    # What the LLM span carries (gen_ai.response.finish_reasons is a list): kept as a tuple, a copy.
    reasons = ["stop", "length"]
    span = tracer.start_span("chat", attributes={"gen_ai.response.finish_reasons": reasons}, start_time=T0)
    reasons.append("changed after")
    span.set_attributes({"ints": [1, 2], "floats": (0.5,), "mixed": [True, 1, "x"], "empty": []})
    span.set_attribute("ints", (3,))
    span.set_attribute("plain", "after the sequences")
    span.end(T0 + 1)


def over_the_limits(tracer: trace.Tracer) -> None:
    span = tracer.start_span("full", attributes={f"k{i}": i for i in range(3)}, start_time=T0)
    for i in range(3, 6):
        span.set_attribute(f"k{i}", "a long value")
    span.set_attribute("k5", "again")
    for i in range(4):
        span.add_event(f"e{i}", {"n": i, "text": "abcdefgh"})
    span.end(T0 + 1)


def statuses_and_late_calls(tracer: trace.Tracer) -> None:
    span = tracer.start_span("status", start_time=T0)
    span.set_status(StatusCode.UNSET)
    span.set_status(StatusCode.ERROR, "first")
    span.set_status(Status(StatusCode.ERROR, "second"), "ignored")
    span.set_status(StatusCode.OK)
    span.set_status(StatusCode.ERROR, "after ok")
    span.end(T0 + 1)
    span.set_attribute("late", 1)
    span.update_name("renamed late")
    span.add_event("late")
    span.end(T0 + 2)


def exceptions(tracer: trace.Tracer) -> None:
    with pytest.raises(ValueError), tracer.start_as_current_span("as current", start_time=T0):
        raise ValueError("boom")
    span = tracer.start_span("recorded", start_time=T0)
    span.record_exception(KeyError("k"), attributes={"extra": "x"}, escaped=False)
    span.end(T0 + 1)


def links_and_remote_parent(tracer: trace.Tracer) -> None:
    remote = SpanContext(
        0xAB,
        0xCD,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("v", "1")]),
    )
    parent = trace.set_span_in_context(trace.NonRecordingSpan(remote))
    invalid = SpanContext(0, 0, is_remote=False)
    span = tracer.start_span(
        "linked",
        context=parent,
        kind=SpanKind.CLIENT,
        links=[Link(SpanContext(0xA1, 0xB1, is_remote=True)), Link(invalid), Link(invalid, {"why": "kept"})],
        start_time=T0,
    )
    span.add_link(SpanContext(0xA2, 0xB2, is_remote=False), {"n": 2})
    span.end(T0 + 1)


@pytest.mark.parametrize(
    "scenario",
    [server_and_child, odd_values, sequences, statuses_and_late_calls, exceptions, links_and_remote_parent],
)
def test_the_same_calls_export_the_same_span_as_the_sdk(scenario: Scenario) -> None:
    _assert_same(*_both(scenario))


def test_limits_evict_truncate_and_count_as_the_sdk_does() -> None:
    limits = SpanLimits(max_span_attributes=3, max_events=2, max_event_attributes=1, max_attribute_length=4)
    sdk, ours = _both(over_the_limits, limits=limits)
    _assert_same(sdk, ours)
    (span,) = ours
    assert span.dropped_attributes == 3 and span.dropped_events == 2
    assert dict(span.attributes or {}) == {"k3": "a lo", "k4": "a lo", "k5": "agai"}


def test_the_first_value_past_the_count_limit_switches_to_the_sdk_rules() -> None:
    def grow(tracer: trace.Tracer) -> None:
        span = tracer.start_span("grow", attributes={"a": 1, "b": 2}, start_time=T0)
        span.set_attributes({"b": 3, "c": 4, "d": 5})  # "d" is the first past the limit of 3
        span.end(T0 + 1)

    sdk, ours = _both(grow, limits=SpanLimits(max_span_attributes=3))
    _assert_same(sdk, ours)
    assert dict(ours[0].attributes or {}) == {"b": 3, "c": 4, "d": 5} and ours[0].dropped_attributes == 1


@pytest.mark.parametrize(
    ("sampler", "parent_flags"),
    [
        (ALWAYS_OFF, None),
        (ParentBased(TraceIdRatioBased(1.0)), TraceFlags(TraceFlags.DEFAULT)),
        (TraceIdRatioBased(0.0), None),
    ],
)
def test_an_unsampled_span_is_a_valid_non_recording_context_like_the_sdks(
    sampler: Sampler, parent_flags: TraceFlags | None
) -> None:
    def unsampled(tracer: trace.Tracer) -> trace.Span:
        context = None
        if parent_flags is not None:
            remote = SpanContext(0xAB, 0xCD, is_remote=True, trace_flags=parent_flags)
            context = trace.set_span_in_context(trace.NonRecordingSpan(remote))
        span = tracer.start_span("dropped", context=context)
        span.end()
        return span

    provider = TracerProvider(sampler=sampler, id_generator=CountingIds(), shutdown_on_exit=False)
    sdk_span = unsampled(provider.get_tracer("modelgate"))
    out = InMemorySpanExporter()
    tracer = GatewayTracer(sampler, RESOURCE, SimpleSpanProcessor(out), SCOPE, id_generator=CountingIds())
    our_span = unsampled(tracer)
    assert not our_span.is_recording() and out.get_finished_spans() == ()
    assert our_span.get_span_context() == sdk_span.get_span_context()
    assert our_span.get_span_context().is_valid


def test_ending_twice_and_setting_after_the_end_are_warned_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = InMemorySpanExporter()
    tracer = GatewayTracer(ParentBased(TraceIdRatioBased(1.0)), RESOURCE, SimpleSpanProcessor(out), SCOPE)
    span = tracer.start_span("once")
    span.end()
    with caplog.at_level(logging.WARNING, logger="gateway.tracing.spans"):
        span.end()
        span.set_attribute("late", 1)
    assert len(out.get_finished_spans()) == 1
    assert "ended span" in caplog.text
    assert "late" not in out.get_finished_spans()[0].attributes  # type: ignore[operator]
