"""A minimal OTLP/HTTP trace receiver for the tracing section, used when Arize Phoenix is not installed.

It accepts `POST /v1/traces` (protobuf, optionally gzip), decodes the `ExportTraceServiceRequest` to
count spans — as much work per export as a collector's receiver does before queueing — and answers 200
with an empty `ExportTraceServiceResponse`. `GET /stats` reports what arrived, so the bench can check
that spans were really exported; `GET /health` is for readiness.

    python -m bench.otlp_sink --port 4318
"""

from __future__ import annotations

import argparse
import gzip
import sys
from collections.abc import Sequence

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

__all__ = ["count_spans", "create_app", "main"]

_STATS = web.AppKey("stats", dict[str, int])


def count_spans(payload: bytes) -> int:
    """Spans in one OTLP/HTTP protobuf export body."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(payload)
    return sum(len(scope.spans) for rs in request.resource_spans for scope in rs.scope_spans)


async def _traces(request: web.Request) -> web.Response:
    body = await request.read()
    if request.headers.get("Content-Encoding", "").lower() == "gzip":
        body = gzip.decompress(body)
    stats = request.app[_STATS]
    stats["exports"] += 1
    stats["bytes"] += len(body)
    stats["spans"] += count_spans(body)
    return web.Response(
        body=ExportTraceServiceResponse().SerializeToString(), content_type="application/x-protobuf"
    )


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[_STATS])


async def _health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def create_app() -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[_STATS] = {"exports": 0, "spans": 0, "bytes": 0}
    app.router.add_post("/v1/traces", _traces)
    app.router.add_get("/stats", _stats)
    app.router.add_get("/health", _health)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.otlp_sink", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    web.run_app(create_app(), host=args.host, port=args.port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
