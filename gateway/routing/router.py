"""The replicas of one gateway and the choice among them: `Router.choose(model, affinity_key, exclude)`.

The router owns, per replica, its upstream client, its health (health.py), the engine load last scraped
(load.py) and this gateway's in-flight count; two background loops keep health and load fresh:

    router = Router(specs, clients, fallbacks={"llama": ["qwen"]}, routing=settings.llm.routing)
    await router.start(stack)                       # first health round, then the loops
    replica = router.choose("llama", None, exclude=())  # None: no healthy replica serves it
    router.plan("llama")                            # ("llama", "qwen"): the model, then its fallbacks

Everything runs on the event loop thread, so the counters need no lock. A replica that is ejected is
never chosen; one whose scrape fails keeps serving, balanced on this gateway's own counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AsyncExitStack
from urllib.parse import urlsplit

from adapters.vllm.protocol import Upstream
from gateway.routing.balancer import choose
from gateway.routing.config import ReplicaSpec, RoutingSettings
from gateway.routing.health import ReplicaHealth
from gateway.routing.load import EngineLoad, parse_engine_load

__all__ = ["Replica", "Router"]

log = logging.getLogger(__name__)


class Replica:
    """One vLLM server as this gateway sees it right now."""

    __slots__ = (
        "client", "health", "host", "in_flight", "load", "name", "next_probe", "port", "spec", "weight",
    )  # fmt: skip

    def __init__(self, spec: ReplicaSpec, client: Upstream, health: ReplicaHealth) -> None:
        self.spec = spec
        self.name = spec.name
        self.weight = spec.weight
        self.client = client
        self.health = health
        self.in_flight = 0
        self.load: EngineLoad | None = None
        self.next_probe = 0.0
        url = urlsplit(spec.url)  # server.address / server.port of the span (IPv6 hosts without brackets)
        self.host = url.hostname or spec.url
        self.port = url.port or (443 if url.scheme == "https" else 80)


class Router:
    def __init__(
        self,
        specs: Sequence[ReplicaSpec],
        clients: Mapping[str, Upstream],
        *,
        fallbacks: Mapping[str, Sequence[str]],
        routing: RoutingSettings,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_eject: Callable[[Replica, str], None] | None = None,
    ) -> None:
        self.routing = routing
        self._rng = rng or random.Random()
        self._clock = clock
        self._on_eject = on_eject
        self.replicas = [
            Replica(
                spec,
                clients[spec.name],
                ReplicaHealth(
                    eject_after=routing.eject_after_failures,
                    base_s=routing.eject_base_s,
                    max_s=routing.eject_max_s,
                    clock=clock,
                ),
            )
            for spec in specs
        ]
        self._by_model: dict[str, list[Replica]] = {}
        self._any_model = [r for r in self.replicas if r.spec.models is None]
        for r in self.replicas:
            for m in sorted(r.spec.models or ()):
                self._by_model.setdefault(m, []).append(r)
        self._plans = {m: (m, *fallbacks.get(m, ())) for m in self._by_model}

    # -- the choice (hot path) ------------------------------------------------------------------------

    def serving(self, model: str) -> list[Replica]:
        """Every replica configured for `model`, healthy or not."""
        return self._by_model.get(model) or self._any_model

    def plan(self, model: str) -> tuple[str, ...]:
        """The model, then its fallbacks in order."""
        return self._plans.get(model) or (model,)

    def choose(self, model: str, affinity_key: str | None, exclude: Collection[str] = ()) -> Replica | None:
        healthy = [r for r in self.serving(model) if r.health.healthy and r.name not in exclude]
        if not healthy:
            return None
        return choose(healthy, affinity_key, self._rng, self.routing.affinity_max_load_ratio)

    def acquire(self, replica: Replica) -> None:
        replica.in_flight += 1

    def release(self, replica: Replica, *, failed: bool, reason: str) -> None:
        """One request ended on `replica`; `failed` = it counts against the replica's health."""
        replica.in_flight -= 1
        if failed:
            if replica.health.failure(reason):
                self._ejected(replica, reason)
        else:
            replica.health.success()

    def _ejected(self, replica: Replica, reason: str) -> None:
        replica.load = None
        log.warning(
            "upstream %s ejected (%s); next check in %.1f s",
            replica.name,
            reason,
            max(0.0, replica.health.ejected_until - self._clock()),
        )
        if self._on_eject is not None:
            self._on_eject(replica, reason)

    def served_models(self) -> list[str]:
        return list(self._by_model)

    # -- the loops --------------------------------------------------------------------------------------

    async def probe(self, replica: Replica) -> None:
        """One active health check: vLLM answers `GET /health` with 200 while its engine serves."""
        try:
            status, _ = await replica.client.probe("/health", self.routing.health_timeout_s)
            ok = status == 200
        except Exception as exc:  # any failure to answer is "not healthy"; the reason goes to the log
            ok = False
            reason = f"{type(exc).__name__}: {exc}"
        else:
            reason = f"status {status}"
        was_healthy = replica.health.healthy
        replica.health.probe_result(ok)
        replica.next_probe = self._clock() + self.routing.health_interval_s
        if was_healthy and not replica.health.healthy:
            self._ejected(replica, f"health check: {reason}")
        elif not was_healthy and replica.health.healthy:
            log.warning("upstream %s re-admitted after a good health check", replica.name)

    async def scrape(self, replica: Replica) -> None:
        try:
            status, body = await replica.client.probe("/metrics", self.routing.health_timeout_s)
        except Exception:  # a replica without /metrics is balanced on this gateway's counts alone
            replica.load = None
            return
        replica.load = parse_engine_load(body.decode("utf-8", "replace")) if status == 200 else None

    async def check_health_once(self) -> None:
        now = self._clock()
        due = [r for r in self.replicas if (r.health.healthy and now >= r.next_probe) or r.health.probe_due()]
        if due:
            await asyncio.gather(*(self.probe(r) for r in due))

    async def _health_loop(self) -> None:
        # Ticks often enough to re-admit an ejected replica soon after its backoff, while each healthy
        # replica is still checked only every health_interval_s.
        tick = min(1.0, self.routing.health_interval_s, self.routing.eject_base_s / 2)
        while True:
            await asyncio.sleep(tick)
            await self.check_health_once()

    async def _scrape_loop(self) -> None:
        while True:
            await asyncio.gather(*(self.scrape(r) for r in self.replicas if r.health.healthy))
            await asyncio.sleep(self.routing.load_scrape_interval_s)

    async def start(self, stack: AsyncExitStack) -> None:
        """Check every replica once (so one down at start-up gets no traffic), then keep checking."""
        await asyncio.gather(*(self.probe(r) for r in self.replicas))
        tasks = [asyncio.create_task(self._health_loop(), name="modelgate-health")]
        if self.routing.load_scrape:
            tasks.append(asyncio.create_task(self._scrape_loop(), name="modelgate-load-scrape"))

        async def stop() -> None:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

        stack.push_async_callback(stop)
