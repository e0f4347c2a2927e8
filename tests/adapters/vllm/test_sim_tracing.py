"""OTLP tracing: a request with a `traceparent` leaves a SERVER span, child of the caller's span, at a
real OTLP/HTTP receiver on 127.0.0.1; a request without one leaves none."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from adapters.vllm.sim import SimConfig, SimServer

pytestmark = pytest.mark.integration

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


class _Receiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, ExportTraceServiceRequest]] = []


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append((self.path, ExportTraceServiceRequest.FromString(body)))
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    server = _Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _attributes(span: Span) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        which = kv.value.WhichOneof("value")
        value = getattr(kv.value, which)
        out[kv.key] = [v.string_value for v in value.values] if which == "array_value" else value
    return out


def test_span_is_a_child_of_the_incoming_traceparent(receiver: _Receiver) -> None:
    endpoint = f"http://127.0.0.1:{receiver.server_address[1]}"
    config = SimConfig(ttft_ms=1, itl_ms=0, tokens=5, otlp_traces_endpoint=endpoint + "/v1/traces")
    with SimServer(config) as sim, httpx.Client(base_url=sim.base_url) as http:
        traced = http.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "trace me"}], "max_tokens": 3},
            headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
        ).json()
        http.post("/v1/completions", json={"prompt": "not traced"}).raise_for_status()
    # Leaving the block shut the server down, which flushes the batch processor.
    assert [path for path, _ in receiver.requests] == ["/v1/traces"] * len(receiver.requests)
    resource_spans = [rs for _, req in receiver.requests for rs in req.resource_spans]
    spans = [span for rs in resource_spans for ss in rs.scope_spans for span in ss.spans]
    assert len(spans) == 1
    span = spans[0]
    assert span.name == "llm_request"
    assert span.kind == Span.SPAN_KIND_SERVER
    assert span.trace_id.hex() == TRACE_ID
    assert span.parent_span_id.hex() == PARENT_ID
    service = {kv.key: kv.value.string_value for kv in resource_spans[0].resource.attributes}["service.name"]
    assert service == "vllm-sim"
    attrs = _attributes(span)
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "sim-llama-3-8b"
    assert attrs["gen_ai.request.max_tokens"] == 3
    assert attrs["gen_ai.response.id"] == traced["id"]
    assert attrs["gen_ai.response.finish_reasons"] == ["length"]
    assert attrs["gen_ai.usage.input_tokens"] == traced["usage"]["prompt_tokens"]
    assert attrs["gen_ai.usage.output_tokens"] == traced["usage"]["completion_tokens"] == 3
    assert attrs["gen_ai.latency.time_to_first_token"] >= 0.0009
    assert span.end_time_unix_nano > span.start_time_unix_nano


def test_tracing_off_builds_no_tracer() -> None:
    with SimServer(SimConfig(ttft_ms=0, itl_ms=0)) as sim:
        assert sim.app.tracer is None
        resp = httpx.post(
            sim.base_url + "/v1/completions",
            json={"prompt": "x"},
            headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
        )
    assert resp.status_code == 200
