"""A bare OTLP/HTTP receiver on 127.0.0.1 that keeps every POST (headers and raw body) for a test to read.

Unlike the Phoenix backend (otlp_backend.py) it shows the wire itself: compression, TLS, exact bytes.

    for receiver in serve_receiver(None):          # or an ssl.SSLContext for https
        ...  # point an exporter at receiver.url; receiver.got_one.wait(5); receiver.posts
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

__all__ = ["Receiver", "serve_receiver", "spans_of"]


@dataclass
class Receiver:
    url: str
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    got_one: threading.Event = field(default_factory=threading.Event)


def serve_receiver(tls: ssl.SSLContext | None) -> Iterator[Receiver]:
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            receiver.got_one.set()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    scheme = "https" if tls is not None else "http"
    receiver.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def spans_of(receiver: Receiver) -> list[object]:
    """Every span in the uncompressed protobuf posts received so far."""
    found: list[object] = []
    for _, body in list(receiver.posts):
        for resource_spans in ExportTraceServiceRequest.FromString(body).resource_spans:
            for scope_spans in resource_spans.scope_spans:
                found.extend(scope_spans.spans)
    return found
