"""The fleet in one process (simulators and gateway under uvicorn threads, spans in memory): the `chat`
span names the replica that served (`server.address`, `server.port`), session affinity keeps a `user`
on one replica, and a one-replica `llm.upstream_url` is still a fleet (its gauges, its counters)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from conftest_helpers import ACME_KEY, metric_samples
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from servers import uvicorn_thread

from adapters.vllm.sim.app import create_sim_app
from adapters.vllm.sim.config import SimConfig
from gateway.app import create_app
from gateway.settings import Settings
from gateway.tracing.setup import setup_tracing

pytestmark = pytest.mark.integration

MODEL = "sim-llama-3-8b"
PRICE = {"input_per_mtok": 1.0, "output_per_mtok": 2.0}


@contextlib.contextmanager
def _fleet(
    make_settings: Callable[..., Settings], n: int, routing: dict[str, Any]
) -> Iterator[tuple[str, list[str], InMemorySpanExporter]]:
    with contextlib.ExitStack() as stack:
        sims = [
            stack.enter_context(
                uvicorn_thread(
                    create_sim_app(SimConfig(ttft_ms=1, itl_ms=1, tokens=4, seed=i)), ready_path="/health"
                )
            )
            for i in range(n)
        ]
        settings = make_settings(
            llm={
                "upstreams": [
                    {"name": f"r{i}", "url": f"{url}/v1", "models": [MODEL]} for i, url in enumerate(sims)
                ],
                "prices": {MODEL: PRICE},
                "routing": routing,
            },
            tracing={"enabled": True, "sample_ratio": 1.0},
        )
        exporter = InMemorySpanExporter()
        tracing = setup_tracing(settings.tracing, service_version="test", exporter=exporter)
        gateway = stack.enter_context(uvicorn_thread(create_app(settings, tracing=tracing)))
        yield gateway, sims, exporter


def _chat_spans(exporter: InMemorySpanExporter) -> list[dict[str, Any]]:
    return [dict(s.attributes or {}) for s in exporter.get_finished_spans() if s.name == f"chat {MODEL}"]


def test_the_chat_span_names_the_replica_that_served(make_settings: Callable[..., Settings]) -> None:
    with _fleet(make_settings, 2, {}) as (gateway, sims, exporter):
        client = openai.OpenAI(base_url=f"{gateway}/v1", api_key=ACME_KEY, max_retries=0)
        for i in range(20):
            messages = [{"role": "user", "content": f"q{i}"}]
            if i % 2:
                client.chat.completions.create(model=MODEL, messages=messages, max_tokens=4)  # type: ignore[arg-type]
            else:
                for _ in client.chat.completions.create(
                    model=MODEL, messages=messages, max_tokens=4, stream=True
                ):  # type: ignore[arg-type]
                    pass
        spans = _chat_spans(exporter)
        assert len(spans) == 20
        ports = {url.rsplit(":", 1)[1]: f"r{i}" for i, url in enumerate(sims)}
        for attrs in spans:
            assert attrs["server.address"] == "127.0.0.1"
            assert ports[str(attrs["server.port"])] == attrs["modelgate.upstream"]
        assert {a["modelgate.upstream"] for a in spans} == {"r0", "r1"}


def test_session_affinity_keeps_a_user_on_one_replica(make_settings: Callable[..., Settings]) -> None:
    with _fleet(make_settings, 3, {"affinity": "user"}) as (gateway, _, exporter):
        client = openai.OpenAI(base_url=f"{gateway}/v1", api_key=ACME_KEY, max_retries=0)
        for user in ("alice", "bob", "carol", "dave"):
            for i in range(6):
                client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": f"q{i}"}], max_tokens=4, user=user
                )
        upstreams = [a["modelgate.upstream"] for a in _chat_spans(exporter)]
        # Sequential requests, so the chosen replica is never overloaded: each user's six stay together
        # (without affinity, ties between idle replicas are broken at random).
        assert len(upstreams) == 24
        assert all(len(set(upstreams[k : k + 6])) == 1 for k in range(0, 24, 6)), upstreams


def test_upstream_url_alone_is_a_fleet_of_one(make_settings: Callable[..., Settings]) -> None:
    with uvicorn_thread(
        create_sim_app(SimConfig(ttft_ms=1, itl_ms=1, tokens=4)), ready_path="/health"
    ) as sim:
        settings = make_settings(
            llm={"upstream_url": f"{sim}/v1", "models": [MODEL], "prices": {MODEL: PRICE}}
        )
        with uvicorn_thread(create_app(settings)) as gateway:
            client = openai.OpenAI(base_url=f"{gateway}/v1", api_key=ACME_KEY, max_retries=0)
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4
            )
            assert [m.id for m in client.models.list()] == [MODEL]
            samples = metric_samples(httpx.get(f"{gateway}/metrics").text)
    assert samples[("modelgate_upstream_healthy", (("model", MODEL), ("upstream", "default")))] == 1.0
    assert samples[("modelgate_upstream_in_flight", (("upstream", "default"),))] == 0.0
    assert samples[("modelgate_upstream_requests_total", (("outcome", "ok"), ("upstream", "default")))] == 1.0
