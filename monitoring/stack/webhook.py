"""A loopback webhook receiver that records what Alertmanager posts to it, one list per URL path.

Alertmanager's webhook payload (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config)
is one JSON object per notification: `status` (firing | resolved), `receiver`, `groupLabels`, and
`alerts` with each alert's `status`, `labels`, `annotations`, `startsAt`, `endsAt`.

    with WebhookSink() as sink:
        url = sink.url("/page")           # give this to Alertmanager
        sink.wait_for(lambda: sink.alerts("/page", "GatewayDown"), timeout=30)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeVar

__all__ = ["WebhookSink"]

T = TypeVar("T")


class WebhookSink:
    """Records POSTed JSON bodies per path; a context manager that serves on a free loopback port."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._posts: dict[str, list[dict[str, Any]]] = {}
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with sink._lock:
                    sink._posts.setdefault(self.path, []).append(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookSink:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def posts(self, path: str) -> list[dict[str, Any]]:
        """Every notification posted to `path`, oldest first."""
        with self._lock:
            return list(self._posts.get(path, []))

    def alerts(self, path: str, alertname: str, status: str | None = None) -> list[dict[str, Any]]:
        """The alerts named `alertname` in the notifications to `path` (optionally only `status` ones)."""
        return [
            alert
            for post in self.posts(path)
            for alert in post.get("alerts", [])
            if alert["labels"].get("alertname") == alertname and (status is None or alert["status"] == status)
        ]

    @staticmethod
    def wait_for(check: Callable[[], T], *, timeout: float, every: float = 0.25) -> T:
        """Poll `check` until it returns something truthy; raise TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no matching notification within {timeout:.0f}s")
            time.sleep(every)
