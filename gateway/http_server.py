"""The uvicorn options `modelgate serve` runs with, in one place so tests serve the gateway the same way.

- the limits on what clients can hold (`gateway.slow_clients.uvicorn_limits`: the header deadline, the
  connection limit, the keep-alive timeout);
- the protocol: uvicorn's httptools protocol with that header deadline, writing a response's head and
  body in one system call (`gateway.response_writes`) and telling a request's handler when its client
  has gone (`gateway.connection_lost`).
"""

from __future__ import annotations

from typing import Any

from gateway.connection_lost import signalling_protocol
from gateway.response_writes import coalescing_protocol
from gateway.settings import ServerSettings
from gateway.slow_clients import uvicorn_limits

__all__ = ["uvicorn_options"]


def uvicorn_options(server: ServerSettings) -> dict[str, Any]:
    """Options for `uvicorn.Config` (besides the app, host, port and logging)."""
    options = uvicorn_limits(server)
    options["http"] = signalling_protocol(coalescing_protocol(options["http"]))
    return options
