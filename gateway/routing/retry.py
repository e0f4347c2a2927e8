"""Which upstream failures another replica may retry, and which count against a replica's health.

Retried only before the client has received a byte (the caller guarantees that: a stream is handed to
the client only once its first line has arrived), and only when the engine cannot have produced an
answer anyone saw: it could not be reached, it reset the connection before answering, or it said it is
unavailable (vLLM answers 503 while its engine is dead or draining; 502/504 come from a proxy in front of
it). A timeout is not retried: the deadline is mostly spent and the engine may still be generating.
4xx and 429 are the caller's or the tenant's to act on, and are answered as they are.

    retryable(UpstreamConnectError("refused"))         # True
    health_failure(UpstreamHTTPError(400, b""))        # False: the server is up
"""

from __future__ import annotations

from adapters.vllm.errors import (
    UpstreamConnectError,
    UpstreamFailure,
    UpstreamHTTPError,
    UpstreamStreamBroken,
    UpstreamTimeoutError,
)

__all__ = ["RETRYABLE_STATUSES", "health_failure", "retryable"]

RETRYABLE_STATUSES = frozenset({502, 503, 504})


def retryable(exc: UpstreamFailure) -> bool:
    """May this failure, seen before any byte reached the client, be retried on another replica?"""
    if isinstance(exc, UpstreamHTTPError):
        return exc.status in RETRYABLE_STATUSES
    # A stream that broke before its first line is a reset before the answer, as far as the client knows.
    return isinstance(exc, UpstreamConnectError | UpstreamStreamBroken)


def health_failure(exc: UpstreamFailure | None) -> bool:
    """Does this outcome count towards ejecting the replica (passive health)?"""
    if exc is None:
        return False
    if isinstance(exc, UpstreamHTTPError):
        return exc.status >= 500
    return isinstance(exc, UpstreamConnectError | UpstreamTimeoutError | UpstreamStreamBroken)
