"""The LLM lane's upstream-call stage over the fleet: route, retry before the first byte, fall back.

The route hands over the parsed request; this module asks the router (gateway/routing/) for a replica
of the model and runs the call there, retrying on another replica while nothing has reached the client.
For a stream, "nothing reached the client" lasts until the first SSE line: the stream is opened and its
first line read here, and only then handed to the relay — so a replica that dies between its headers
and its first token (vLLM sends headers before queueing) costs the client nothing but time.

    lease, body = await post_routed(svc, req, path, body, headers)
    lease, stack, lines = await open_routed_stream(svc, req, path, body, headers)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack

from adapters.vllm.errors import UpstreamStreamBroken
from gateway.llm.protocol import LLMRequest
from gateway.metrics import GatewayMetrics
from gateway.routing.attempts import Lease, call_with_retries
from gateway.routing.router import Replica, Router

__all__ = ["affinity_key", "open_routed_stream", "post_routed"]


def affinity_key(request: LLMRequest, mode: str) -> str | None:
    """The session key for affinity: the OpenAI `user` field, or `metadata.session_id`."""
    if mode == "user":
        user = request.payload.get("user")
        return user if isinstance(user, str) and user else None
    if mode == "session_id":
        meta = request.payload.get("metadata")
        sid = meta.get("session_id") if isinstance(meta, dict) else None
        return sid if isinstance(sid, str) and sid else None
    return None


def _body_for(request: LLMRequest, body: bytes, served: str) -> bytes:
    """The body for the model that serves it: a fallback model gets its own name in `model`."""
    if served == request.model:
        return body
    return json.dumps({**json.loads(body), "model": served}, separators=(",", ":")).encode()


class _Recorder:
    """Counts attempts and retries into the gateway's metrics (label values from closed sets)."""

    def __init__(self, metrics: GatewayMetrics, model: str) -> None:
        self.metrics = metrics
        self.model_label = metrics.model_label(model)

    def attempt(self, upstream: str, outcome: str) -> None:
        self.metrics.upstream_requests.labels(upstream, outcome).inc()

    def retry(self, reason: str) -> None:
        self.metrics.upstream_retries.labels(self.model_label, reason).inc()


def _count_fallback(metrics: GatewayMetrics, lease: Lease) -> None:
    if lease.fallback:
        metrics.upstream_fallbacks.labels(
            metrics.model_label(lease.requested_model), metrics.model_label(lease.model)
        ).inc()


async def post_routed(
    router: Router,
    metrics: GatewayMetrics,
    request: LLMRequest,
    affinity: str | None,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout_s: float,
) -> tuple[Lease, bytes]:
    recorder = _Recorder(metrics, request.model)

    async def attempt(replica: Replica, served: str) -> bytes:
        return await replica.client.post_json(path, _body_for(request, body, served), headers)

    deadline = asyncio.get_running_loop().time() + timeout_s
    lease, answer = await call_with_retries(
        router, request.model, affinity, attempt, deadline=deadline,
        record=recorder.attempt, on_retry=recorder.retry,
    )  # fmt: skip
    _count_fallback(metrics, lease)
    return lease, answer


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for line in rest:
        yield line


async def open_routed_stream(
    router: Router,
    metrics: GatewayMetrics,
    request: LLMRequest,
    affinity: str | None,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout_s: float,
) -> tuple[Lease, AsyncExitStack, AsyncIterator[bytes]]:
    """Open the stream on some replica and read its first line; the caller owns the returned stack."""
    recorder = _Recorder(metrics, request.model)

    async def attempt(replica: Replica, served: str) -> tuple[AsyncExitStack, AsyncIterator[bytes]]:
        stack = AsyncExitStack()
        try:
            lines = await stack.enter_async_context(
                replica.client.stream(path, _body_for(request, body, served), headers)
            )
            first = await anext(lines, None)
            if first is None:
                raise UpstreamStreamBroken("upstream stream ended before its first line")
        except BaseException:
            await stack.aclose()
            raise
        return stack, _prepend(first, lines)

    deadline = asyncio.get_running_loop().time() + timeout_s
    lease, (stack, lines) = await call_with_retries(
        router, request.model, affinity, attempt, deadline=deadline,
        record=recorder.attempt, on_retry=recorder.retry,
    )  # fmt: skip
    _count_fallback(metrics, lease)
    return lease, stack, lines
