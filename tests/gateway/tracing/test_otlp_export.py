"""The fast OTLP encoder matches the SDK's message for message; the exporter's retries and deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

from gateway.tracing.otlp_export import OTLPHTTPSpanExporter
from gateway.tracing.otlp_wire import CACHE_ENTRIES, SpanEncoder


def varied_spans() -> list[ReadableSpan]:
    """Spans covering what the encoder must carry: kinds, every attribute type, events, links, status,
    trace state, a remote parent, two resources and several scopes."""
    spans: list[ReadableSpan] = []
    for resource in (
        Resource(
            {"service.name": "gw", "service.version": "1"},
            schema_url="https://opentelemetry.io/schemas/1.41.0",
        ),
        Resource({"service.name": "sim"}),
    ):
        exporter = InMemorySpanExporter()
        provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer(
            "modelgate", "0.1.0", schema_url="https://x/1", attributes={"scope.attr": 1}
        )
        other = provider.get_tracer("other")
        remote = SpanContext(
            0x0AF7651916CD43DD8448EB211C80319C,
            0xB7AD6B7169203331,
            is_remote=True,
            trace_flags=TraceFlags(1),
            trace_state=TraceState([("vendor", "v1"), ("mg", "x")]),
        )
        with tracer.start_as_current_span(
            "POST /v1/chat/completions",
            context=set_span_in_context(NonRecordingSpan(remote)),
            kind=SpanKind.SERVER,
            attributes={
                "s": "text",
                "i": 42,
                "f": 0.25,
                "b": False,
                "strs": ["a", "b"],
                "ints": [1, 2],
                "floats": [0.5],
                "bools": [True],
                "empty": [],
            },
        ) as root:
            root.add_event("chunk", {"n": 1})
            with tracer.start_as_current_span(
                "chat m", kind=SpanKind.CLIENT, links=[Link(remote, {"why": "retry"})]
            ) as child:
                child.set_status(StatusCode.ERROR, "upstream 503")
                try:
                    raise TimeoutError("slow")
                except TimeoutError as exc:
                    child.record_exception(exc)
            other.start_span("internal").end()
            root.set_status(StatusCode.OK)
        spans.extend(exporter.get_finished_spans())
        provider.shutdown()
    return spans


def test_encoding_is_identical_to_the_sdk_encoder() -> None:
    spans = varied_spans()
    encoder = SpanEncoder()
    reference = sdk_encode_spans(spans)
    # Twice: the second pass takes the repeated attributes from the encoder's cache.
    for _ in range(2):
        body = encoder.encode(spans)
        ours = ExportTraceServiceRequest.FromString(body)
        assert ours == reference
        # Same bytes too: fields in protobuf's own order, nothing extra.
        assert body == reference.SerializeToString()
    assert sum(len(ss.spans) for rs in ours.resource_spans for ss in rs.scope_spans) == len(spans) == 6


def test_an_empty_batch_encodes_to_an_empty_request() -> None:
    assert SpanEncoder().encode([]) == sdk_encode_spans([]).SerializeToString() == b""


def test_values_the_sdk_encoder_cannot_carry_cost_one_attribute_not_the_batch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Past int64 the SDK encoder (upb) raises, which would drop the whole batch; a lone surrogate is
    not UTF-8, which a receiver would reject. Ours leaves the one attribute out, or replaces the char."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.get_tracer("t").start_span(
        "s\ud800", attributes={"big": 2**64, "neg": -(2**63), "ok": "fine", "bad": "x\udc00"}
    ).end()
    (span,) = (
        ExportTraceServiceRequest.FromString(SpanEncoder().encode(exporter.get_finished_spans()))
        .resource_spans[0]
        .scope_spans[0]
        .spans
    )
    values = {kv.key: kv.value for kv in span.attributes}
    assert set(values) == {"neg", "ok", "bad"}
    assert values["neg"].int_value == -(2**63)
    assert values["bad"].string_value == "x?"
    assert span.name == "s?"
    assert "attribute big has a value OTLP cannot carry: int" in caplog.text


def test_the_attribute_cache_tells_true_from_one_and_stays_bounded() -> None:
    encoder = SpanEncoder()
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    for value in (True, 1, 1.0, "1"):
        tracer.start_span("s", attributes={"v": value}).end()
    for n in range(CACHE_ENTRIES + 10):
        tracer.start_span("s", attributes={"unique": n}).end()
    spans = exporter.get_finished_spans()
    decoded = ExportTraceServiceRequest.FromString(encoder.encode(spans)).resource_spans[0]
    first = [span.attributes[0].value for span in decoded.scope_spans[0].spans[:4]]
    kinds = [v.WhichOneof("value") for v in first]
    assert kinds == ["bool_value", "int_value", "double_value", "string_value"]
    assert decoded == sdk_encode_spans(spans).resource_spans[0]
    assert len(encoder._attribute_cache) <= CACHE_ENTRIES


def one_span() -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.get_tracer("t").start_span("s").end()
    return list(exporter.get_finished_spans())


def exporter_with(
    handler: Callable[[httpx.Request], httpx.Response], timeout_s: float = 2.0
) -> OTLPHTTPSpanExporter:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return OTLPHTTPSpanExporter(
        "http://collector:4318/v1/traces", headers={"x-k": "v"}, timeout_s=timeout_s, client=client
    )


def test_posts_protobuf_with_the_configured_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    assert exporter_with(handler).export(one_span()) is SpanExportResult.SUCCESS
    (request,) = seen
    assert str(request.url) == "http://collector:4318/v1/traces"
    assert request.headers["content-type"] == "application/x-protobuf"
    assert request.headers["x-k"] == "v"
    body = ExportTraceServiceRequest.FromString(request.content)
    assert body.resource_spans[0].scope_spans[0].spans[0].name == "s"


def test_retries_transient_failures_then_succeeds() -> None:
    answers: Iterator[httpx.Response | Exception] = iter(
        [
            httpx.ConnectError("refused"),
            httpx.Response(503),
            httpx.Response(429, headers={"retry-after": "0"}),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        answer = next(answers, httpx.Response(200))
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert exporter_with(handler, timeout_s=5.0).export(one_span()) is SpanExportResult.SUCCESS


def test_a_permanent_error_is_not_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(400)

    assert exporter_with(handler).export(one_span()) is SpanExportResult.FAILURE
    assert len(calls) == 1


def test_gives_up_within_the_timeout_and_logs_the_outage_once(caplog: pytest.LogCaptureFixture) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    exporter = exporter_with(handler, timeout_s=0.8)
    started = time.monotonic()
    assert exporter.export(one_span()) is SpanExportResult.FAILURE
    assert time.monotonic() - started < 1.5
    exporter.export(one_span())
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "trace export" in r.getMessage()]
    assert len(warnings) == 1


def test_shutdown_aborts_a_back_off() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    exporter = exporter_with(handler, timeout_s=30.0)
    result: list[SpanExportResult] = []
    worker = threading.Thread(target=lambda: result.append(exporter.export(one_span())))
    started = time.monotonic()
    worker.start()
    time.sleep(0.2)
    exporter.shutdown()
    worker.join(5)
    assert result == [SpanExportResult.FAILURE]
    assert time.monotonic() - started < 3
    assert exporter.export(one_span()) is SpanExportResult.FAILURE  # after shutdown: refused at once
