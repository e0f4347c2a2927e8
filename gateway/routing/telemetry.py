"""The router's gauges, read from its replicas at scrape time (no bookkeeping on the request path).

- `modelgate_upstream_healthy{upstream, model}`  1 while the replica takes traffic for the model, 0 while
  ejected; one series per model it serves (`any` for a replica that serves whatever it is asked), so
  `max by (model)` says whether a model has any replica left.
- `modelgate_upstream_in_flight{upstream}`       requests this gateway has open on the replica.
- `modelgate_upstream_engine_requests{upstream, state}`  the engine's own running / waiting counts as
  last scraped (absent when unknown), which the balancer reads too.

    registry.register(RouterCollector(router))
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.routing.router import Router

__all__ = ["RouterCollector"]


class RouterCollector(Collector):
    def __init__(self, router: Router) -> None:
        self.router = router

    def collect(self) -> Iterator[Metric]:
        healthy = GaugeMetricFamily(
            "modelgate_upstream_healthy",
            "1 while the replica takes traffic for the model, 0 while it is ejected.",
            labels=["upstream", "model"],
        )
        in_flight = GaugeMetricFamily(
            "modelgate_upstream_in_flight",
            "Requests this gateway has open on the replica.",
            labels=["upstream"],
        )
        engine = GaugeMetricFamily(
            "modelgate_upstream_engine_requests",
            "The replica's own vLLM running/waiting request counts, as last scraped.",
            labels=["upstream", "state"],
        )
        for r in self.router.replicas:
            up = 1.0 if r.health.healthy else 0.0
            for model in sorted(r.spec.models) if r.spec.models is not None else ["any"]:
                healthy.add_metric([r.name, model], up)
            in_flight.add_metric([r.name], r.in_flight)
            if r.load is not None:
                engine.add_metric([r.name, "running"], r.load.running)
                engine.add_metric([r.name, "waiting"], r.load.waiting)
        yield healthy
        yield in_flight
        yield engine
