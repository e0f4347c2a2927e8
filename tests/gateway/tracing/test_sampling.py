"""SamplingRule against the SDK sampler it names: the same decision for every parent and trace id."""

from __future__ import annotations

import random
from typing import get_args

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision, Sampler
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, TraceFlags, TraceState

from gateway.tracing.config import SamplerName
from gateway.tracing.sampling import SamplingRule
from gateway.tracing.spans import GatewayTracer

NAMES = list(get_args(SamplerName))  # every name the config accepts
SAMPLED, UNSAMPLED = TraceFlags(TraceFlags.SAMPLED), TraceFlags(TraceFlags.DEFAULT)
STATE = TraceState([("vendor", "v1")])
PARENTS: list[SpanContext | None] = [
    None,
    SpanContext(0xAB, 0xCD, is_remote=True, trace_flags=SAMPLED, trace_state=STATE),
    SpanContext(0xAB, 0xCD, is_remote=True, trace_flags=UNSAMPLED),
    SpanContext(0xAB, 0xCD, is_remote=False, trace_flags=SAMPLED),
    SpanContext(0xAB, 0xCD, is_remote=False, trace_flags=UNSAMPLED, trace_state=STATE),
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("ratio", [0.0, 0.25, 0.5, 1.0])
def test_the_rule_decides_as_the_sdk_sampler_it_names(name: str, ratio: float) -> None:
    rule = SamplingRule.named(name, ratio)
    sdk = rule.sdk_sampler()
    rng = random.Random(f"{name}-{ratio}")
    # Around the ratio's bound as well as at random: an off-by-one there would flip one decision in 2^64.
    bound = round(ratio * 2**64)
    trace_ids = [rng.getrandbits(128) for _ in range(500)]
    trace_ids += [
        high << 64 | low for high in (0, 7) for low in (bound - 1, bound, bound + 1) if 0 <= low < 2**64
    ]
    for parent in PARENTS:
        context = trace.set_span_in_context(trace.NonRecordingSpan(parent)) if parent is not None else None
        for trace_id in trace_ids:
            expected = sdk.should_sample(context, trace_id, "span").decision is Decision.RECORD_AND_SAMPLE
            assert rule.sampled(parent, trace_id) is expected, (name, ratio, parent, hex(trace_id))


def test_the_sdk_sampler_descriptions_name_the_rule() -> None:
    assert SamplingRule.named("parentbased_traceidratio", 0.3).sdk_sampler().get_description() == (
        "ParentBased{root:TraceIdRatioBased{0.3},remoteParentSampled:AlwaysOnSampler,"
        "remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,"
        "localParentNotSampled:AlwaysOffSampler}"
    )
    assert SamplingRule.named("always_off", 1.0).sdk_sampler().get_description() == "AlwaysOffSampler"
    with pytest.raises(ValueError, match="xray"):
        SamplingRule.named("xray", 1.0)


class SameIds(RandomIdGenerator):
    def __init__(self) -> None:
        self._rng = random.Random(7)

    def generate_span_id(self) -> int:
        return self._rng.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self._rng.getrandbits(128) or 1


@pytest.mark.parametrize("name", ["parentbased_traceidratio", "traceidratio", "parentbased_always_off"])
def test_a_tracer_on_the_rule_gives_the_spans_a_tracer_on_the_sdk_sampler_gives(name: str) -> None:
    rule = SamplingRule.named(name, 0.5)

    def contexts(sampler: SamplingRule | Sampler) -> list[tuple[SpanContext, bool, object]]:
        out = InMemorySpanExporter()
        tracer = GatewayTracer(
            sampler,
            Resource({}),
            SimpleSpanProcessor(out),
            InstrumentationScope("modelgate"),
            id_generator=SameIds(),
        )
        seen = []
        for i in range(200):
            parent = PARENTS[i % len(PARENTS)]
            context = trace.set_span_in_context(trace.NonRecordingSpan(parent)) if parent else None
            span = tracer.start_span("s", context=context, attributes={"i": i})
            seen.append((span.get_span_context(), span.is_recording()))
            span.end()
        attributes = {str(s.attributes["i"]): dict(s.attributes or {}) for s in out.get_finished_spans()}  # type: ignore[index]
        return [(ctx, rec, attributes.get(str(i), {})) for i, (ctx, rec) in enumerate(seen)]

    by_rule, by_sdk = contexts(rule), contexts(rule.sdk_sampler())
    assert by_rule == by_sdk
    assert any(recording for _, recording, _ in by_rule) or name == "parentbased_always_off"
    assert any(ctx.trace_state == STATE for ctx, _, _ in by_rule)
