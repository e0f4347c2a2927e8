"""Upstream failures, translated from the connection pool's at the adapter boundary (adapters/vllm/client.py);
the gateway maps them to HTTP answers (gateway/llm/upstream_errors.py).

UpstreamFailure                     kind (label `error_type` of modelgate_llm_upstream_errors_total)
├── UpstreamConnectError            connect             refused, DNS, reset before a response
├── UpstreamTimeoutError            timeout             no response / no next chunk in time
│   ├── UpstreamConnectTimeout      connect_timeout     past llm.connect_timeout_s while connecting
│   ├── UpstreamFirstByteTimeout    first_byte_timeout  past llm.first_byte_timeout_s, no first byte
│   ├── UpstreamChunkTimeout        chunk_timeout       past llm.chunk_timeout_s between two chunks
│   └── UpstreamTotalTimeout        total_timeout       past llm.total_timeout_s for the whole answer
├── UpstreamProtocolError           bad_response        not what the OpenAI protocol promises
│   ├── UpstreamResponseTooLarge    too_large           an SSE line/event or a body over its limit
│   └── UpstreamRedirect            redirect            a 3xx: never followed (a 307 re-posts the prompt)
├── UpstreamStreamBroken            stream_broken       the connection dropped mid-stream
└── UpstreamHTTPError               status_4xx/5xx/429  an error status (its body kept)

Messages name what happened, never the upstream's address or an exception's text: they reach clients.
"""

from __future__ import annotations

__all__ = [
    "UpstreamChunkTimeout",
    "UpstreamConnectError",
    "UpstreamConnectTimeout",
    "UpstreamFailure",
    "UpstreamFirstByteTimeout",
    "UpstreamHTTPError",
    "UpstreamProtocolError",
    "UpstreamRedirect",
    "UpstreamResponseTooLarge",
    "UpstreamStreamBroken",
    "UpstreamTimeoutError",
    "UpstreamTotalTimeout",
]


class UpstreamFailure(Exception):
    kind = "bad_response"


class UpstreamConnectError(UpstreamFailure):
    kind = "connect"


class UpstreamTimeoutError(UpstreamFailure):
    kind = "timeout"


class UpstreamConnectTimeout(UpstreamTimeoutError):
    kind = "connect_timeout"


class UpstreamFirstByteTimeout(UpstreamTimeoutError):
    kind = "first_byte_timeout"


class UpstreamChunkTimeout(UpstreamTimeoutError):
    kind = "chunk_timeout"


class UpstreamTotalTimeout(UpstreamTimeoutError):
    kind = "total_timeout"


class UpstreamProtocolError(UpstreamFailure):
    kind = "bad_response"


class UpstreamResponseTooLarge(UpstreamProtocolError):
    kind = "too_large"


class UpstreamRedirect(UpstreamProtocolError):
    kind = "redirect"


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
