"""OTLP/HTTP (protobuf) span exporter with a fast encoder: the export thread's CPU is the request path's GIL.

Why not the SDK's `OTLPSpanExporter`: its encoder builds every protobuf message through keyword
constructors, and with protobuf 7's upb runtime each nested message is copied into its parent. Measured
here (2 cores, protobuf 7.36, opentelemetry-sdk 1.45): ~340 µs to encode one server span with 11
attributes; filling the same messages in place took 15-35 µs; `otlp_wire.SpanEncoder`, which writes the
protobuf bytes itself and reuses the encoding of repeated attributes, 0.75x that (bench/README.md).
The export runs on the batch thread, but it holds the GIL, so every µs of it is taken from the requests.

The encoder's bytes are the SDK encoder's, byte for byte (tests/gateway/tracing/test_otlp_export.py).
The exporter posts them to `<endpoint>` (the full `/v1/traces` URL), gzipped when asked
(`compression="gzip"`, OTEL_EXPORTER_OTLP_COMPRESSION), over TLS verified by `ssl_context` when given
(OTEL_EXPORTER_OTLP_CERTIFICATE / _CLIENT_CERTIFICATE / _CLIENT_KEY), and retries connection errors and
429/502/503/504 with exponential back-off, all within `timeout_s`; `shutdown()` aborts a back-off at once.
"""

from __future__ import annotations

import gzip
import logging
import random
import ssl
import threading
import time
from collections.abc import Mapping, Sequence

import httpx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from gateway.tracing.otlp_wire import SpanEncoder

__all__ = ["OTLPHTTPSpanExporter"]

_RETRYABLE_STATUS = frozenset({429, 502, 503, 504})

_log = logging.getLogger(__name__)


class OTLPHTTPSpanExporter(SpanExporter):
    """Posts `encode_spans` output to an OTLP/HTTP traces endpoint; never raises into the batch thread."""

    def __init__(
        self,
        endpoint: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 2.0,
        compression: str = "none",
        ssl_context: ssl.SSLContext | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.gzip = compression == "gzip"
        self._headers = {**(headers or {}), "Content-Type": "application/x-protobuf"}
        if self.gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._client = client or httpx.Client(
            timeout=timeout_s, verify=ssl_context if ssl_context is not None else True
        )
        self._encoder = SpanEncoder()
        self._stop = threading.Event()
        self._failing = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._stop.is_set():
            return SpanExportResult.FAILURE
        try:
            body = self._encoder.encode(spans)
            if self.gzip:
                # Level 6 (zlib's default): most of level 9's ratio at a fraction of its CPU.
                body = gzip.compress(body, compresslevel=6)
        except Exception:
            _log.exception("could not encode %d spans; dropped", len(spans))
            return SpanExportResult.FAILURE
        try:
            problem = self._post(body)
        except Exception as exc:  # e.g. the client closed under us by a shutdown that stopped waiting
            problem = type(exc).__name__
        if problem is None:
            if self._failing:
                _log.info("trace export to %s works again", self.endpoint)
                self._failing = False
            return SpanExportResult.SUCCESS
        # Once per outage at WARNING: a dead backend must not flood the gateway's own log.
        _log.log(
            logging.DEBUG if self._failing else logging.WARNING,
            "trace export to %s failed (%s); %d spans dropped",
            self.endpoint,
            problem,
            len(spans),
        )
        self._failing = True
        return SpanExportResult.FAILURE

    def _post(self, body: bytes) -> str | None:
        """None on success, else why it failed. Retries inside the export deadline."""
        deadline = time.monotonic() + self.timeout_s
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timed out"
            retry_after: float | None = None
            try:
                response = self._client.post(
                    self.endpoint, content=body, headers=self._headers, timeout=remaining
                )
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if response.status_code < 300:
                    return None
                problem = f"HTTP {response.status_code}"
                if response.status_code not in _RETRYABLE_STATUS:
                    return problem
                retry_after = _seconds(response.headers.get("retry-after"))
            backoff = retry_after if retry_after is not None else 0.5 * 2**attempt * random.uniform(0.8, 1.2)
            if backoff >= deadline - time.monotonic():
                return problem
            if self._stop.wait(backoff):
                return f"{problem}; shutting down"
            attempt += 1

    def shutdown(self) -> None:
        self._stop.set()
        self._client.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # nothing is buffered here


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: use our own back-off
