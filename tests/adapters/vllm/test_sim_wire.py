"""The simulator's wire format (SSE framing, health, 404/405), its vLLM metrics, and its queue."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.vllm.sim import SimConfig, SimServer

pytestmark = pytest.mark.integration

MODEL = "sim-llama-3-8b"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(SimConfig(ttft_ms=2, itl_ms=1, tokens=6)) as server:
        yield server


@pytest.fixture
def http(sim: SimServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, timeout=10) as client:
        yield client


def _metrics(http: httpx.Client) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """{sample name: {sorted labels: value}} from /metrics."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(http.get("/metrics").text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def _value(metrics: dict[str, dict[tuple[tuple[str, str], ...], float]], name: str, **labels: str) -> float:
    return metrics[name][tuple(sorted({"model_name": MODEL, **labels}.items()))]


def test_health_and_unknown_routes(http: httpx.Client) -> None:
    health = http.get("/health")
    assert (health.status_code, health.content) == (200, b"")
    assert http.get("/v1/nope").status_code == 404
    assert http.get("/v1/chat/completions").status_code == 405


def test_sse_wire_format(http: httpx.Client) -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "one two three"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with http.stream("POST", "/v1/chat/completions", json=body) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        raw = resp.read().decode()
    events = raw.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]  # the stream ends with [DONE] and a blank line
    payloads = [json.loads(e.removeprefix("data: ")) for e in events[:-2]]
    assert all(e.startswith("data: {") for e in events[:-2])
    assert payloads[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    tokens = payloads[1:-1]
    assert [p["choices"][0]["delta"]["content"] for p in tokens] == [
        "one",
        " two",
        " three",
        " one",
        " two",
        " three",
    ]
    assert [p["choices"][0]["finish_reason"] for p in tokens] == [None] * 5 + ["stop"]
    assert payloads[-1]["choices"] == []
    assert payloads[-1]["usage"] == {"prompt_tokens": 7, "total_tokens": 13, "completion_tokens": 6}
    assert {p["id"] for p in payloads} == {payloads[0]["id"]}


def test_streaming_keeps_time_between_tokens() -> None:
    # A separate server with visible latencies: TTFT ~60 ms, then ~30 ms between tokens.
    with SimServer(SimConfig(ttft_ms=60, itl_ms=30, jitter=0.0, tokens=4)) as slow:
        arrivals: list[float] = []
        start = time.perf_counter()
        body = {"prompt": "a b c d", "stream": True}
        with httpx.stream("POST", slow.base_url + "/v1/completions", json=body, timeout=10) as resp:
            for line in resp.iter_lines():
                if line.startswith("data: {"):
                    arrivals.append(time.perf_counter() - start)
    assert len(arrivals) == 4
    assert arrivals[0] >= 0.055
    # Lower bounds only: the server sleeps at least this long; a busy client can only see chunks later.
    assert arrivals[-1] - arrivals[0] >= 3 * 0.030 * 0.95


def test_metrics_follow_the_traffic(http: httpx.Client) -> None:
    before = _metrics(http)
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "alpha beta"}], "max_tokens": 4}
    usage = [http.post("/v1/chat/completions", json=chat).json()["usage"] for _ in range(3)]
    stream = {"prompt": "x y z", "stream": True, "stream_options": {"include_usage": True}}
    with http.stream("POST", "/v1/completions", json=stream) as resp:
        last = [line for line in resp.iter_lines() if line.startswith("data: {")][-1]
    usage.append(json.loads(last.removeprefix("data: "))["usage"])
    after = _metrics(http)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("vllm:prompt_tokens_total") == sum(u["prompt_tokens"] for u in usage)
    assert delta("vllm:generation_tokens_total") == sum(u["completion_tokens"] for u in usage) == 4 * 3 + 6
    assert delta("vllm:request_success_total", finished_reason="length") == 3
    assert delta("vllm:request_success_total", finished_reason="stop") == 1
    assert delta("vllm:time_to_first_token_seconds_count") == 4
    assert delta("vllm:e2e_request_latency_seconds_count") == 4
    assert delta("vllm:request_queue_time_seconds_count") == 4
    assert delta("vllm:inter_token_latency_seconds_count") == 3 * 3 + 5  # tokens - 1 per request
    assert delta("vllm:time_to_first_token_seconds_sum") >= 4 * 0.0018  # TTFT 2 ms, jitter 10 %
    assert _value(after, "vllm:num_requests_running") == 0
    assert _value(after, "vllm:num_requests_waiting") == 0
    assert _value(after, "vllm:kv_cache_usage_perc") == 0


def test_queue_holds_requests_beyond_max_concurrency() -> None:
    config = SimConfig(ttft_ms=300, itl_ms=0, jitter=0.0, max_concurrency=2)
    with SimServer(config) as small:

        async def scrape(client: httpx.AsyncClient) -> dict[str, float]:
            text = (await client.get("/metrics")).text
            return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}

        async def run() -> tuple[list[int], float, list[dict[str, float]], dict[str, float]]:
            async with httpx.AsyncClient(base_url=small.base_url, timeout=10) as client:
                body = {"prompt": "queue me", "max_tokens": 1}
                start = time.perf_counter()
                requests = asyncio.gather(*(client.post("/v1/completions", json=body) for _ in range(6)))
                samples = []
                while not requests.done():
                    samples.append(await scrape(client))
                    await asyncio.sleep(0.02)
                statuses = [r.status_code for r in await requests]
                return statuses, time.perf_counter() - start, samples, await scrape(client)

        statuses, elapsed, samples, final = asyncio.run(run())
    assert statuses == [200] * 6
    running = [s["vllm:num_requests_running"] for s in samples]
    waiting = [s["vllm:num_requests_waiting"] for s in samples]
    assert max(running) == 2  # never more than --max-concurrency at once
    assert max(waiting) >= 2
    assert elapsed >= 3 * 0.3  # six requests, two at a time, 300 ms each
    assert final["vllm:request_queue_time_seconds_count"] == 6
    # If all six arrive together, two wait ~0.3 s and two ~0.6 s (1.8 s); allow for staggered arrivals.
    assert final["vllm:request_queue_time_seconds_sum"] >= 0.5
    assert final["vllm:num_requests_waiting"] == 0
