"""The LLM lane's upstream call over the fleet: route, retry before the first byte, fall back.

`Route` asks the router (gateway/routing/) for a replica of the request's model and runs the call there,
retrying on another replica while nothing has reached the client. For a stream, "nothing reached the
client" lasts until the first SSE line: the stream is opened and its first line read here, and only then
handed to the relay — so a replica that dies between its headers and its first token (vLLM sends headers
before queueing) costs the client nothing but time.

    route = Route(router, metrics, affinity="session_id")
    lease, body = await route.post(request, "/chat/completions", body, headers, timeout_s=300)
    lease, stack, batches = await route.open_stream(request, "/chat/completions", body, headers, timeout_s=30)

The returned `Lease` names the replica and the served model (a fallback's when one served); it travels in
the call's `Outcome`, whose recording ends it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack

from adapters.vllm.errors import UpstreamStreamBroken
from gateway.llm.wire import LLMRequest
from gateway.metrics import GatewayMetrics, LabelCache
from gateway.routing.attempts import Lease, call_with_retries
from gateway.routing.router import Replica, Router

__all__ = ["Route", "affinity_key"]


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


async def _prepend(first: list[bytes], rest: AsyncIterator[list[bytes]]) -> AsyncIterator[list[bytes]]:
    yield first
    async for lines in rest:
        yield lines


class Route:
    def __init__(self, router: Router, metrics: GatewayMetrics, affinity: str) -> None:
        self.router = router
        self.metrics = metrics
        self.affinity = affinity
        # Once per attempt; replicas and outcomes are closed sets (the series exist once counted anyway).
        self._upstream_requests = LabelCache(metrics.upstream_requests)

    def _attempted(self, upstream: str, outcome: str) -> None:
        self._upstream_requests(upstream, outcome).inc()

    def _count_fallback(self, lease: Lease) -> None:
        if lease.fallback:
            m = self.metrics
            m.upstream_fallbacks.labels(
                m.model_label(lease.requested_model), m.model_label(lease.model)
            ).inc()

    async def post(
        self, request: LLMRequest, path: str, body: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> tuple[Lease, bytes]:
        """A non-streamed call; raises the last UpstreamFailure when no replica answered."""

        async def attempt(replica: Replica, served: str) -> bytes:
            return await replica.client.post_json(path, _body_for(request, body, served), headers)

        model_label = self.metrics.model_label(request.model)
        lease, answer = await call_with_retries(
            self.router, request.model, affinity_key(request, self.affinity), attempt,
            deadline=asyncio.get_running_loop().time() + timeout_s, record=self._attempted,
            on_retry=lambda reason: self.metrics.upstream_retries.labels(model_label, reason).inc(),
        )  # fmt: skip
        self._count_fallback(lease)
        return lease, answer

    async def open_stream(
        self, request: LLMRequest, path: str, body: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> tuple[Lease, AsyncExitStack, AsyncIterator[list[bytes]]]:
        """Open the stream on some replica and read its first lines (the first read that holds a whole
        line); the caller owns the returned stack. The iterator yields the lines of each read."""

        async def attempt(replica: Replica, served: str) -> tuple[AsyncExitStack, AsyncIterator[list[bytes]]]:
            stack = AsyncExitStack()
            try:
                batches = await stack.enter_async_context(
                    replica.client.stream(path, _body_for(request, body, served), headers)
                )
                first = await anext(batches, None)
                if first is None:
                    raise UpstreamStreamBroken("upstream stream ended before its first line")
            except BaseException:
                await stack.aclose()
                raise
            return stack, _prepend(first, batches)

        model_label = self.metrics.model_label(request.model)
        lease, (stack, batches) = await call_with_retries(
            self.router, request.model, affinity_key(request, self.affinity), attempt,
            deadline=asyncio.get_running_loop().time() + timeout_s, record=self._attempted,
            on_retry=lambda reason: self.metrics.upstream_retries.labels(model_label, reason).inc(),
        )  # fmt: skip
        self._count_fallback(lease)
        return lease, stack, batches
