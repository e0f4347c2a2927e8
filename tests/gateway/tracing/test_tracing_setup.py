"""setup_tracing: a provider of its own, resource, sampler, the disabled path, and a backend that is down."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from gateway.tracing import TracingConfig, TracingConfigError, instrument_app, setup_tracing
from gateway.tracing.setup import MAX_QUEUE_SIZE, Tracing, build_sampler
from support.servers import free_port


def test_spans_go_to_the_given_exporter_with_the_resource_and_never_to_the_global_provider() -> None:
    global_before = trace.get_tracer_provider()
    exporter = InMemorySpanExporter()
    config = TracingConfig(enabled=True, service_name="gw", environment="staging")
    environ = {"OTEL_RESOURCE_ATTRIBUTES": "k8s.pod.name=gw-0"}
    tracing = setup_tracing(config, service_version="0.1.0", exporter=exporter, environ=environ)
    assert tracing.enabled and tracing.processor is not None
    with tracing.tracer.start_as_current_span("work"):
        pass
    (span,) = exporter.get_finished_spans()
    resource = span.resource.attributes
    assert resource["service.name"] == "gw"
    assert resource["service.version"] == "0.1.0"
    assert resource["deployment.environment.name"] == "staging"
    assert resource["k8s.pod.name"] == "gw-0"
    assert resource["telemetry.sdk.language"] == "python"
    assert span.instrumentation_scope is not None and span.instrumentation_scope.name == "modelgate"
    assert trace.get_tracer_provider() is global_before
    tracing.shutdown()
    tracing.shutdown()  # idempotent


def test_two_apps_in_one_process_keep_their_spans_apart() -> None:
    a, b = InMemorySpanExporter(), InMemorySpanExporter()
    ta = setup_tracing(TracingConfig(enabled=True), service_version="1", exporter=a, environ={})
    tb = setup_tracing(TracingConfig(enabled=True), service_version="1", exporter=b, environ={})
    ta.tracer.start_span("a").end()
    tb.tracer.start_span("b").end()
    assert [s.name for s in a.get_finished_spans()] == ["a"]
    assert [s.name for s in b.get_finished_spans()] == ["b"]


def test_sampler_is_parent_based_ratio_by_default() -> None:
    sampler = build_sampler("parentbased_traceidratio", 0.3)
    assert isinstance(sampler, ParentBased)
    assert "TraceIdRatioBased{0.3}" in sampler.get_description()  # type: ignore[no-untyped-call]
    assert isinstance(build_sampler("traceidratio", 0.3), TraceIdRatioBased)
    assert "AlwaysOff" in str(build_sampler("always_off", 1).get_description())  # type: ignore[no-untyped-call]


def test_ratio_zero_records_nothing_but_creates_valid_trace_ids() -> None:
    exporter = InMemorySpanExporter()
    tracing = setup_tracing(
        TracingConfig(enabled=True, sample_ratio=0.0), service_version="1", exporter=exporter, environ={}
    )
    span = tracing.tracer.start_span("unsampled")
    assert not span.is_recording()
    assert span.get_span_context().is_valid and not span.get_span_context().trace_flags.sampled
    span.end()
    assert exporter.get_finished_spans() == ()


@pytest.mark.parametrize(
    ("config", "environ"),
    [
        (TracingConfig(), {}),
        (TracingConfig(enabled=True), {"OTEL_SDK_DISABLED": "true"}),
    ],
)
def test_disabled_tracing_is_a_no_op(config: TracingConfig, environ: dict[str, str]) -> None:
    tracing = setup_tracing(config, service_version="1", exporter=InMemorySpanExporter(), environ=environ)
    assert not tracing.enabled and tracing.processor is None
    with tracing.tracer.start_as_current_span("nothing") as span:
        assert not span.is_recording()
        assert not span.get_span_context().is_valid
    tracing.shutdown()


def test_malformed_environment_fails_setup() -> None:
    with pytest.raises(TracingConfigError, match="OTEL_TRACES_SAMPLER"):
        setup_tracing(
            TracingConfig(enabled=True), service_version="1", environ={"OTEL_TRACES_SAMPLER": "xray"}
        )


def test_reads_os_environ_when_no_mapping_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not setup_tracing(TracingConfig(enabled=True), service_version="1").enabled


@pytest.fixture
def silent_backend() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP port that accepts connections and never answers: an export hangs until its timeout."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1], accepted
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    listener.close()


def _hello_app(tracing: Tracing) -> FastAPI:
    app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    instrument_app(app, tracing)
    return app


def _request_latencies(app: FastAPI, n: int) -> list[float]:
    async def go() -> list[float]:
        out = []
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            for _ in range(n):
                started = time.perf_counter()
                response = await client.get("/hello")
                out.append(time.perf_counter() - started)
                assert response.status_code == 200 and "x-trace-id" in response.headers
        return out

    return asyncio.run(go())


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["closed_port", "silent_server"])
def test_a_backend_that_is_down_never_slows_a_request(
    backend: str, silent_backend: tuple[int, list[socket.socket]], caplog: pytest.LogCaptureFixture
) -> None:
    port, accepted = silent_backend if backend == "silent_server" else (free_port(), [])
    export_timeout = 3.0
    config = TracingConfig(enabled=True, endpoint=f"http://127.0.0.1:{port}", export_timeout_s=export_timeout)
    tracing = setup_tracing(config, service_version="1", environ={})
    app = _hello_app(tracing)
    caplog.set_level(logging.CRITICAL, logger="opentelemetry")  # the export failures are expected here

    latencies = _request_latencies(app, 150)
    # The batch thread exports once a second; run requests while at least one export is under way.
    deadline = time.monotonic() + 5
    while backend == "silent_server" and not accepted and time.monotonic() < deadline:
        latencies += _request_latencies(app, 20)
    if backend == "silent_server":
        assert accepted, "the exporter never reached the backend: the test would prove nothing"
    else:
        time.sleep(1.2)  # let at least one export hit the refused port
        latencies += _request_latencies(app, 50)
    # A request that waited for the exporter would take >= 1 s (retry back-off) or 3 s (the timeout).
    assert max(latencies) < 0.5, f"slowest request {max(latencies):.3f} s"

    started = time.monotonic()
    tracing.shutdown(timeout_s=0.5)
    assert time.monotonic() - started < 2.0, "shutdown must not wait for the dead backend"


def test_the_batch_queue_is_bounded_and_drops(
    caplog: pytest.LogCaptureFixture, silent_backend: tuple[int, list[socket.socket]]
) -> None:
    # With nowhere to export to, the queue stays at its limit instead of growing with traffic: the SDK
    # says so when it drops (its queue length is not public; the log line is).
    caplog.set_level(logging.WARNING, logger="opentelemetry")
    # A backend that accepts and never answers: each export waits out its timeout, so the queue fills.
    port, _ = silent_backend
    config = TracingConfig(enabled=True, endpoint=f"http://127.0.0.1:{port}", export_timeout_s=2.0)
    tracing = setup_tracing(config, service_version="1", environ={})
    try:
        for _ in range(MAX_QUEUE_SIZE + 2000):
            tracing.tracer.start_span("s").end()
        drops = [r for r in caplog.records if str(r.msg).startswith("Queue full")]
        assert len(drops) == 1  # dropped, and said once per interval rather than once per span
    finally:
        tracing.shutdown(timeout_s=0.2)


def test_importing_the_package_starts_nothing() -> None:
    code = (
        "import threading, gateway.tracing, gateway.tracing.otlp_export, gateway.tracing.middleware\n"
        "assert threading.active_count() == 1, threading.enumerate()\n"
    )
    # No export thread, no provider: those start in setup_tracing, called when the app is built.
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ), timeout=60)
