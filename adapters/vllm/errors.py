"""Upstream failures, translated from aiohttp at the adapter boundary (adapters/vllm/client.py); the gateway
maps them to HTTP answers (gateway/llm/upstream_errors.py).

UpstreamFailure
├── UpstreamConnectError    could not connect (refused, DNS, reset before a response)
├── UpstreamTimeoutError    no response / no next chunk in time
├── UpstreamProtocolError   an answer that is not what the OpenAI protocol promises
├── UpstreamStreamBroken    the connection dropped after part of a stream was delivered
└── UpstreamHTTPError       the upstream answered with an error status (its body kept)
"""

from __future__ import annotations

__all__ = [
    "UpstreamConnectError",
    "UpstreamFailure",
    "UpstreamHTTPError",
    "UpstreamProtocolError",
    "UpstreamStreamBroken",
    "UpstreamTimeoutError",
]


class UpstreamFailure(Exception):
    kind = "bad_response"


class UpstreamConnectError(UpstreamFailure):
    kind = "connect"


class UpstreamTimeoutError(UpstreamFailure):
    kind = "timeout"


class UpstreamProtocolError(UpstreamFailure):
    kind = "bad_response"


class UpstreamStreamBroken(UpstreamFailure):
    kind = "stream_broken"


class UpstreamHTTPError(UpstreamFailure):
    def __init__(self, status: int, body: bytes, retry_after: str | None = None) -> None:
        super().__init__(f"upstream answered {status}")
        self.status = status
        self.body = body
        self.retry_after = retry_after

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "status_429" if self.status == 429 else f"status_{self.status // 100}xx"
