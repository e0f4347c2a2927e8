"""OTEL_EXPORTER_OTLP_COMPRESSION / _CERTIFICATE reach the wire: a real HTTP(S) receiver on 127.0.0.1.

The receiver (tests/support/otlp_receiver.py) is Python's http.server (TLS from a self-signed
certificate made with `openssl` for the test), so what is checked is what a collector would see: the
Content-Encoding header, a body that gunzips into an ExportTraceServiceRequest, and a TLS handshake
verified against the given CA file.
"""

from __future__ import annotations

import gzip
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from gateway.tracing.config import TracingConfig, TracingConfigError
from gateway.tracing.setup import setup_tracing
from support.otlp_receiver import Receiver, serve_receiver


@pytest.fixture
def plain_receiver() -> Iterator[Receiver]:
    yield from serve_receiver(None)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_receiver(certificate: tuple[Path, Path]) -> Iterator[Receiver]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*map(str, certificate))
    yield from serve_receiver(context)


def _export_one_span(environ: dict[str, str]) -> None:
    tracing = setup_tracing(TracingConfig(), service_version="1", environ=environ)
    assert tracing.enabled  # auto + an endpoint in the environment
    with tracing.tracer.start_as_current_span("probe"):
        pass
    tracing.shutdown(timeout_s=5)


def test_gzip_compression_is_sent_and_decodes(plain_receiver: Receiver) -> None:
    _export_one_span(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": plain_receiver.url, "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}
    )
    assert plain_receiver.got_one.wait(5)
    headers, body = plain_receiver.posts[0]
    assert headers["content-encoding"] == "gzip"
    request = ExportTraceServiceRequest.FromString(gzip.decompress(body))
    assert request.resource_spans[0].scope_spans[0].spans[0].name == "probe"


def test_without_compression_the_body_is_plain_protobuf(plain_receiver: Receiver) -> None:
    _export_one_span({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": plain_receiver.url + "/v1/traces"})
    assert plain_receiver.got_one.wait(5)
    headers, body = plain_receiver.posts[0]
    assert "content-encoding" not in headers
    assert ExportTraceServiceRequest.FromString(body).resource_spans


def test_the_certificate_variable_verifies_a_collector_with_a_private_ca(
    tls_receiver: Receiver, certificate: tuple[Path, Path]
) -> None:
    _export_one_span(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": tls_receiver.url,
            "OTEL_EXPORTER_OTLP_CERTIFICATE": str(certificate[0]),
        }
    )
    assert tls_receiver.got_one.wait(5)


def test_without_the_certificate_the_private_ca_is_not_trusted(tls_receiver: Receiver) -> None:
    # The system trust store does not know the test's CA: the handshake fails and nothing arrives.
    _export_one_span({"OTEL_EXPORTER_OTLP_ENDPOINT": tls_receiver.url, "OTEL_EXPORTER_OTLP_TIMEOUT": "500"})
    assert not tls_receiver.posts


def test_a_certificate_file_that_is_not_pem_is_refused_by_name(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(TracingConfigError, match="OTEL_EXPORTER_OTLP_CERTIFICATE: not a usable PEM"):
        setup_tracing(
            TracingConfig(),
            service_version="1",
            environ={
                "OTEL_EXPORTER_OTLP_ENDPOINT": "https://127.0.0.1:1",
                "OTEL_EXPORTER_OTLP_CERTIFICATE": str(bad),
            },
        )
