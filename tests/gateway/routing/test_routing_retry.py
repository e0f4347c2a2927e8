"""What may be retried on another replica, and what counts against a replica's health."""

from __future__ import annotations

import pytest

from adapters.vllm.errors import (
    UpstreamConnectError,
    UpstreamFailure,
    UpstreamHTTPError,
    UpstreamProtocolError,
    UpstreamStreamBroken,
    UpstreamTimeoutError,
)
from gateway.routing.retry import health_failure, retryable


@pytest.mark.parametrize(
    ("exc", "retry", "unhealthy"),
    [
        (UpstreamConnectError("refused"), True, True),
        (UpstreamStreamBroken("reset before the first line"), True, True),
        (UpstreamHTTPError(503, b""), True, True),
        (UpstreamHTTPError(502, b""), True, True),
        (UpstreamHTTPError(500, b""), False, True),
        (UpstreamHTTPError(429, b""), False, False),
        (UpstreamHTTPError(400, b""), False, False),
        (UpstreamTimeoutError("slow"), False, True),
        (UpstreamProtocolError("bad json"), False, False),
    ],
)
def test_retry_and_health_rules(exc: UpstreamFailure, retry: bool, unhealthy: bool) -> None:
    assert retryable(exc) is retry
    assert health_failure(exc) is unhealthy


def test_success_is_not_a_health_failure() -> None:
    assert health_failure(None) is False
