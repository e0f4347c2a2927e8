"""`/metrics`: who may read it, where it is served, and rendering it off the event loop.

The exposition holds every tenant's name, spend, budget and token counts, so it is either on its own
listener (`server.metrics_port`, bound to `server.metrics_host`, never the API port) or behind a bearer
token (`server.metrics_token_sha256`), or both; production mode refuses a config with neither
(gateway/settings.py). Rendering runs collectors that read files (the job results), so it never runs on
the API's event loop: the API route renders in a worker thread, and the separate listener is a small
uvicorn server in a thread of its own with its own loop.

    listener = MetricsListener(registry, host="127.0.0.1", port=9464, token_sha256=None)
    listener.start(); …; listener.stop()
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import threading
import time

import uvicorn
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import error_body

__all__ = ["UNAUTHORIZED", "MetricsListener", "authorized", "metrics_app", "render", "render_off_loop"]

log = logging.getLogger(__name__)


def authorized(authorization: str | None, token_sha256: str | None) -> bool:
    """True when no token is configured, or the `Authorization: Bearer <token>` header carries it."""
    if token_sha256 is None:
        return True
    if not authorization:
        return False
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    presented = hashlib.sha256(token.strip().encode("utf-8", "replace")).hexdigest()
    return hmac.compare_digest(presented, token_sha256)


def render(registry: CollectorRegistry, accept: str) -> tuple[bytes, str]:
    """The exposition; OpenMetrics when the scraper asks for it (only that format carries exemplars)."""
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


async def render_off_loop(registry: CollectorRegistry, accept: str) -> tuple[bytes, str]:
    return await asyncio.to_thread(render, registry, accept)


UNAUTHORIZED = json.dumps(
    error_body("a bearer token is required for /metrics", "authentication_error", "invalid_token")
).encode()


def metrics_app(registry: CollectorRegistry, token_sha256: str | None) -> ASGIApp:
    """A bare ASGI app serving `GET /metrics` (and 404 for everything else), for the separate listener."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {k: v.decode("latin-1") for k, v in scope.get("headers", ())}
        if scope["path"] != "/metrics" or scope["method"] not in ("GET", "HEAD"):
            status, body, ctype = 404, b'{"error": "not found"}', "application/json"
        elif not authorized(headers.get("authorization"), token_sha256):
            status, body, ctype = 401, UNAUTHORIZED, "application/json"
        else:
            # This listener's loop serves nothing else: rendering here blocks no API request.
            status = 200
            body, ctype = render(registry, headers.get("accept", ""))
        extra = [(b"www-authenticate", b"Bearer")] if status == 401 else []
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", ctype.encode()),
                    (b"content-length", str(len(body)).encode()),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body if scope["method"] != "HEAD" else b""})

    return app


class MetricsListener:
    """`/metrics` on its own port: uvicorn in a daemon thread with its own event loop."""

    def __init__(
        self, registry: CollectorRegistry, *, host: str, port: int, token_sha256: str | None
    ) -> None:
        config = uvicorn.Config(
            metrics_app(registry, token_sha256),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            loop="asyncio",
            http="h11",
            limit_concurrency=32,  # scrapers, not clients: a handful is plenty
            timeout_keep_alive=30,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="modelgate-metrics", daemon=True)
        self.address = f"http://{host}:{port}/metrics"

    def start(self, timeout: float = 10.0) -> None:
        """Start serving; raises OSError when the port cannot be bound (the gateway must not start)."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise OSError(f"the /metrics listener could not bind {self.address}")
            if time.monotonic() > deadline:
                raise OSError(f"the /metrics listener did not start within {timeout} s")
            time.sleep(0.01)
        log.info("metrics on %s", self.address)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
