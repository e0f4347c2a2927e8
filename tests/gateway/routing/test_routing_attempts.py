"""The upstream-call stage's loop: retries on another replica, the retry count, fallback, 503 naming the
model, the in-flight slot and the outcome counted once. Replica clients are scripted stand-ins here; the
real thing runs against three simulator processes in tests/integration/test_llm_fleet.py."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager

import pytest

from adapters.vllm.errors import UpstreamConnectError, UpstreamFailure, UpstreamHTTPError
from gateway.routing.attempts import NoReplicaAvailable, call_with_retries
from gateway.routing.config import ReplicaSpec, RoutingSettings
from gateway.routing.router import Replica, Router


class Scripted:
    """Answers `post_json` from a list: an exception is raised, bytes are returned."""

    def __init__(self, name: str, script: list[bytes | UpstreamFailure]) -> None:
        self.base_url = f"http://{name}:8000/v1"
        self.script = script
        self.calls = 0

    async def post_json(self, path: str, body: bytes, headers: Mapping[str, str]) -> bytes:
        self.calls += 1
        step = self.script[min(self.calls, len(self.script)) - 1]
        if isinstance(step, UpstreamFailure):
            raise step
        return step

    def stream(
        self, path: str, body: bytes, headers: Mapping[str, str]
    ) -> AbstractAsyncContextManager[AsyncIterator[list[bytes]]]:
        raise NotImplementedError

    async def get_json(self, path: str) -> bytes:
        return b"{}"

    async def probe(self, path: str, timeout_s: float) -> tuple[int, bytes]:
        return 200, b""

    async def aclose(self) -> None:
        return None


def _router(clients: dict[str, tuple[str, Scripted]], **routing: object) -> Router:
    specs = [
        ReplicaSpec(name, f"http://{name}:8000/v1", frozenset({model}), 1.0)
        for name, (model, _) in clients.items()
    ]
    return Router(
        specs,
        {name: c for name, (_, c) in clients.items()},
        fallbacks={"llama": ["qwen"]},
        routing=RoutingSettings(**routing),  # type: ignore[arg-type]
        rng=random.Random(0),
    )


async def _call(
    router: Router, model: str, outcomes: list[tuple[str, str]], retries: list[str]
) -> tuple[str, str, bytes]:
    async def attempt(replica: Replica, served: str) -> bytes:
        return await replica.client.post_json("/chat/completions", b"{}", {})

    deadline = asyncio.get_running_loop().time() + 5
    lease, body = await call_with_retries(
        router, model, None, attempt, deadline=deadline,
        record=lambda u, o: outcomes.append((u, o)), on_retry=retries.append,
    )  # fmt: skip
    name, served = lease.replica.name, lease.model
    lease.end(None)
    lease.end(None)  # idempotent
    return name, served, body


def test_a_refused_replica_is_retried_on_the_other_and_the_slot_is_returned() -> None:
    dead = Scripted("a", [UpstreamConnectError("refused")])
    live = Scripted("b", [b"ok"])
    router = _router({"a": ("llama", dead), "b": ("llama", live)})
    outcomes: list[tuple[str, str]] = []
    retries: list[str] = []
    for _ in range(60):  # ties between idle replicas are broken at random: a is picked now and then
        name, served, body = asyncio.run(_call(router, "llama", outcomes, retries))
        assert (name, served, body) == ("b", "llama", b"ok")
        if dead.calls == 3:
            break
    assert all(r.in_flight == 0 for r in router.replicas)
    # Three connect failures in a row ejected it; from then on every request goes straight to b.
    assert dead.calls == 3 and not router.replicas[0].health.healthy
    assert retries == ["connect"] * 3 and outcomes.count(("a", "connect")) == 3
    for _ in range(10):
        asyncio.run(_call(router, "llama", outcomes, retries))
    assert dead.calls == 3


def test_retries_stop_at_the_configured_count_and_non_retryable_errors_are_not_retried() -> None:
    a = Scripted("a", [UpstreamHTTPError(503, b"")])
    b = Scripted("b", [UpstreamHTTPError(503, b"")])
    router = _router({"a": ("llama", a), "b": ("llama", b)}, retries=0, eject_after_failures=10)
    with pytest.raises(UpstreamHTTPError):
        asyncio.run(_call(router, "llama", [], []))
    assert a.calls + b.calls == 1
    c = Scripted("c", [UpstreamHTTPError(400, b"")])
    d = Scripted("d", [b"ok"])
    router = _router({"c": ("llama", c), "d": ("llama", d)})
    outcomes: list[tuple[str, str]] = []
    for _ in range(6):
        try:
            asyncio.run(_call(router, "llama", outcomes, []))
        except UpstreamHTTPError as exc:
            assert exc.status == 400
    assert c.calls >= 1 and ("c", "status_4xx") in outcomes and router.replicas[0].health.healthy


def test_every_replica_out_means_the_fallback_then_503_naming_the_model() -> None:
    a = Scripted("a", [UpstreamConnectError("refused")])
    q = Scripted("q", [b"from qwen"])
    router = _router({"a": ("llama", a), "q": ("qwen", q)}, retries=3)
    router.replicas[0].health.eject("test")
    name, served, body = asyncio.run(_call(router, "llama", [], []))
    assert (name, served, body) == ("q", "qwen", b"from qwen")
    router.replicas[1].health.eject("test")
    with pytest.raises(NoReplicaAvailable, match="model 'llama' nor its fallback 'qwen'"):
        asyncio.run(_call(router, "llama", [], []))
    with pytest.raises(NoReplicaAvailable, match="model 'qwen'; try again"):
        asyncio.run(_call(router, "qwen", [], []))


def test_a_replica_knows_its_address_for_the_span() -> None:
    def address(url: str) -> tuple[str, int]:
        router = Router(
            [ReplicaSpec("r", url, None, 1.0)],
            {"r": Scripted("r", [b""])},
            fallbacks={},
            routing=RoutingSettings(),
        )
        return router.replicas[0].host, router.replicas[0].port

    assert address("http://10.0.0.1:8000/v1") == ("10.0.0.1", 8000)
    assert address("https://vllm.internal/v1") == ("vllm.internal", 443)
    assert address("http://[::1]:8001/v1") == ("::1", 8001)
