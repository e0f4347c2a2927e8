"""Upstream failures → the gateway's OpenAI-shaped errors: 502 bad answer, 503 unreachable, 504 timeout,
and the upstream's own 4xx/429 passed through with its message."""

from __future__ import annotations

import json

from adapters.vllm.errors import (
    UpstreamConnectError,
    UpstreamFailure,
    UpstreamHTTPError,
    UpstreamTimeoutError,
)
from gateway.errors import (
    GatewayError,
    UpstreamBadResponse,
    UpstreamStatus,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.routing.attempts import NoReplicaAvailable

__all__ = ["to_gateway_error"]


def _upstream_message(body: bytes) -> tuple[str | None, str | None]:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, None
    err = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(err, dict):
        msg, typ = err.get("message"), err.get("type")
        return (msg if isinstance(msg, str) else None), (typ if isinstance(typ, str) else None)
    msg = doc.get("message") if isinstance(doc, dict) else None
    return (msg if isinstance(msg, str) else None), None


def to_gateway_error(exc: UpstreamFailure) -> GatewayError:
    if isinstance(exc, UpstreamHTTPError):
        message, type_ = _upstream_message(exc.body)
        headers = {"retry-after": exc.retry_after} if exc.retry_after else None
        if exc.status == 429 or 400 <= exc.status < 500:
            return UpstreamStatus(exc.status, message or f"upstream refused the request ({exc.status})",
                                  upstream_type=type_, headers=headers)  # fmt: skip
        if exc.status == 503:
            return UpstreamUnavailable(f"upstream unavailable: {message or 'status 503'}", headers=headers)
        return UpstreamBadResponse(f"upstream failed with status {exc.status}: {message or 'no message'}")
    if isinstance(exc, UpstreamConnectError | NoReplicaAvailable):
        return UpstreamUnavailable(str(exc))
    if isinstance(exc, UpstreamTimeoutError):
        return UpstreamTimeout(str(exc))
    return UpstreamBadResponse(str(exc))
