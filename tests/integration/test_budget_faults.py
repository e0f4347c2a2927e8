"""Faults never lose money or leak capacity: real gateway, real simulator, real Redis, the official SDK.

- a budget refusal is one HTTP request for the openai SDK with its default retries;
- the per-tenant concurrency cap refuses the extra request and frees its slots afterwards;
- a client that stops reading a stream: the send deadline ends the relay, the upstream is aborted, what was
  generated is billed, in-flight drops back, the log row is written;
- Redis paused while requests settle: the settlements wait in the journal and land afterwards;
- Redis unreachable: 503 budget_unavailable naming no host, and it does not hold up start-up or churn.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import openai
import pyarrow.dataset as ds
import pytest
from conftest_helpers import ACME_KEY
from llm_stack import MODEL, LLMStack, llm_stack
from prometheus_client.parser import text_string_to_metric_families
from redis_server import RedisServer, start_redis_server
from servers import free_port

from adapters.vllm.sim.config import SimConfig
from gateway.auth import hash_key
from gateway.settings import Settings

pytestmark = pytest.mark.integration

MESSAGES = [{"role": "user", "content": "hello there"}]
AUTH = {"Authorization": f"Bearer {ACME_KEY}"}


def _acme(**budget: float) -> list[dict[str, object]]:
    return [{"name": "acme", "key_sha256": hash_key(ACME_KEY), **budget}]


def _metric(stack: LLMStack, name: str, **labels: str) -> float:
    text = httpx.get(f"{stack.gateway_url}/metrics", timeout=5).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def _wait_for(predicate: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_a_budget_refusal_is_one_request_for_the_sdk_with_default_retries(
    make_settings: Callable[..., Settings],
) -> None:
    with llm_stack(make_settings, tenants=_acme(daily_usd=0.01)) as stack:
        client = openai.OpenAI(base_url=f"{stack.gateway_url}/v1", api_key=ACME_KEY)  # default max_retries=2
        assert client.max_retries == 2
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=4000)
        response = info.value.response
        assert info.value.code == "budget_exceeded"
        assert response.headers["x-should-retry"] == "false"
        retry_after = int(response.headers["retry-after"])
        assert 0 < retry_after <= 86_400  # seconds to the next UTC midnight
        requests = _metric(stack, "modelgate_requests_total", route="/v1/chat/completions", status="429")
        assert requests == 1


def test_the_concurrency_cap_refuses_the_extra_request_and_frees_its_slots(
    make_settings: Callable[..., Settings],
) -> None:
    sim = SimConfig(ttft_ms=1, itl_ms=20, tokens=60, seed=5)
    with llm_stack(make_settings, sim=sim, llm={"max_concurrent_per_tenant": 2}) as stack:
        body = {"model": MODEL, "messages": MESSAGES, "max_tokens": 60, "stream": True}
        with (
            httpx.stream("POST", f"{stack.gateway_url}/v1/chat/completions", json=body, headers=AUTH) as a,
            httpx.stream("POST", f"{stack.gateway_url}/v1/chat/completions", json=body, headers=AUTH) as b,
        ):
            assert a.status_code == b.status_code == 200
            third = httpx.post(f"{stack.gateway_url}/v1/chat/completions", json=body, headers=AUTH)
            assert third.status_code == 429
            assert third.json()["error"]["code"] == "concurrency_limit_exceeded"
            assert third.headers["retry-after"] == "1"
            for r in (a, b):
                for _ in r.iter_lines():
                    pass
        # both finished: the tenant has its slots back
        again = httpx.post(
            f"{stack.gateway_url}/v1/chat/completions", json={**body, "stream": False}, headers=AUTH
        )
        assert again.status_code == 200
        assert _metric(stack, "modelgate_concurrency_refusals_total", tenant="acme") == 1


def _stalled_stream(url: str, body: bytes) -> socket.socket:
    """A client that sends a streaming request, then never reads: a tiny receive buffer fills at once."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {ACME_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


def test_a_client_that_stops_reading_is_cut_off_billed_and_logged(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    # The echo answer repeats the prompt's words: 3 KB tokens, 4,096 of them, 12 MB in all — more than the
    # kernel's socket buffers (4 MB at most here) can hide from the sender.
    sim = SimConfig(ttft_ms=1, itl_ms=1, tokens=4096, seed=6)
    llm = {"client_send_timeout_s": 0.5}
    log = {"flush_seconds": 0.2}
    tenants = _acme(daily_usd=1000.0)
    with llm_stack(make_settings, sim=sim, llm=llm, prediction_log=log, tenants=tenants) as stack:
        words = " ".join(c * 3000 for c in "abcdefghij")
        body = json.dumps(
            {
                "model": MODEL,
                "messages": [{"role": "user", "content": words}],
                "max_tokens": 4096,
                "stream": True,
            }
        ).encode()
        sock = _stalled_stream(stack.gateway_url, body)
        try:
            _wait_for(lambda: _metric(stack, "modelgate_llm_requests_total", status="499") == 1, seconds=30)
        finally:
            sock.close()
        assert _metric(stack, "modelgate_llm_requests_in_flight") == 0
        # the upstream request was aborted long before its 4,096 tokens
        sim_metrics = httpx.get(f"{stack.sim_url}/metrics").text
        aborted = [line for line in sim_metrics.splitlines() if 'finished_reason="abort"' in line]
        assert aborted and aborted[0].endswith(" 1.0"), aborted
        generated = [
            line for line in sim_metrics.splitlines() if line.startswith("vllm:generation_tokens_total")
        ]
        assert 0 < float(generated[0].rsplit(" ", 1)[1]) < 4096
        # billed as an estimate (no usage arrives from an aborted stream), never beyond what was reserved
        billed = _metric(stack, "modelgate_llm_tokens_total", tenant="acme", type="output")
        assert 0 < billed <= 4096
        budget = httpx.get(f"{stack.gateway_url}/v1/budget", headers=AUTH).json()
        assert budget["day"]["reserved_usd"] == 0.0 and budget["day"]["spent_usd"] > 0
        log_uri = stack.settings.llm_log_uri

        def logged() -> list[dict[str, object]]:
            try:
                return ds.dataset(log_uri, format="parquet", partitioning="hive").to_table().to_pylist()
            except (FileNotFoundError, ValueError):
                return []

        _wait_for(lambda: len(logged()) == 1)
        row = logged()[0]
        assert row["status"] == 499 and row["output_tokens"] == billed and row["usage_estimated"] is True


@pytest.fixture
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis of this test's own: pausing it must not stall any other test."""
    yield from start_redis_server(tmp_path_factory)


def _redis_command(server: RedisServer, *args: str) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()] + [f"${len(a)}\r\n{a}\r\n".encode() for a in args]
    with socket.create_connection((server.host, server.port), timeout=5) as s:
        s.sendall(b"".join(parts))
        return s.recv(256)


def test_redis_paused_at_settle_time_loses_no_money(
    make_settings: Callable[..., Settings], own_redis: RedisServer
) -> None:
    sim = SimConfig(ttft_ms=1, itl_ms=30, tokens=40, seed=7)
    budgets = {"backend": "redis", "redis_url": own_redis.url}
    with llm_stack(make_settings, sim=sim, budgets=budgets, tenants=_acme(daily_usd=50.0)) as stack:
        body = {"model": MODEL, "messages": MESSAGES, "max_tokens": 40, "stream": True}
        with httpx.stream("POST", f"{stack.gateway_url}/v1/chat/completions", json=body, headers=AUTH) as r:
            lines = r.iter_lines()
            next(lines)  # the stream is running, its reservation made
            # every write (the settle script included) now waits 6 s; the attempt gives up after 2 s
            assert _redis_command(own_redis, "CLIENT", "PAUSE", "6000", "WRITE").startswith(b"+OK")
            for _ in lines:
                pass
        _wait_for(lambda: _metric(stack, "modelgate_budget_settle_pending") == 1, seconds=5)
        assert _metric(stack, "modelgate_budget_settle_failures_total") == 1
        _wait_for(lambda: _metric(stack, "modelgate_budget_settle_pending") == 0, seconds=30)
        cost = _metric(stack, "modelgate_llm_cost_usd_total", tenant="acme")
        budget = httpx.get(f"{stack.gateway_url}/v1/budget", headers=AUTH).json()
        assert cost > 0 and budget["day"]["spent_usd"] == pytest.approx(cost, rel=1e-9)
        assert budget["day"]["reserved_usd"] == 0.0


def test_an_unreachable_redis_fails_llm_closed_and_leaves_churn_and_start_up_alone(
    make_settings: Callable[..., Settings],
) -> None:
    budgets = {"backend": "redis", "redis_url": f"redis://127.0.0.1:{free_port()}/0"}
    started = time.monotonic()
    with llm_stack(make_settings, budgets=budgets, tenants=_acme(daily_usd=5.0)) as stack:
        assert time.monotonic() - started < 10
        r = httpx.post(
            f"{stack.gateway_url}/v1/chat/completions",
            json={"model": MODEL, "messages": MESSAGES, "max_tokens": 4},
            headers=AUTH,
        )
        assert r.status_code == 503 and r.json()["error"]["code"] == "budget_unavailable"
        message = r.json()["error"]["message"]
        assert "127.0.0.1" not in message and "redis" not in message.lower() and "Error" not in message
        churn = httpx.post(
            f"{stack.gateway_url}/v1/churn/predict",
            json={
                "tenure_months": 3,
                "monthly_charges": 95.5,
                "total_charges": 290.0,
                "support_tickets": 2,
                "contract_type": "month-to-month",
                "payment_method": "electronic_check",
                "internet_service": "fiber_optic",
            },
            headers=AUTH,
        )
        assert churn.status_code == 200


def test_a_non_streaming_client_that_leaves_cancels_the_upstream_request(
    make_settings: Callable[..., Settings],
) -> None:
    sim = SimConfig(ttft_ms=1, itl_ms=50, tokens=100, seed=9)  # a 5-second answer
    with llm_stack(make_settings, sim=sim) as stack:
        body = {"model": MODEL, "messages": MESSAGES, "max_tokens": 100}
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{stack.gateway_url}/v1/chat/completions", json=body, headers=AUTH, timeout=0.5)
        _wait_for(lambda: _metric(stack, "modelgate_llm_requests_total", status="499") == 1, seconds=5)
        assert _metric(stack, "modelgate_llm_requests_in_flight") == 0
        sim_metrics = httpx.get(f"{stack.sim_url}/metrics").text
        assert any(
            'finished_reason="abort"' in line and line.endswith(" 1.0") for line in sim_metrics.splitlines()
        )
        budget = httpx.get(f"{stack.gateway_url}/v1/budget", headers=AUTH).json()
        assert budget["day"]["reserved_usd"] == 0.0 and budget["day"]["spent_usd"] == 0.0


def test_a_stream_that_outlives_the_total_timeout_ends_with_an_error_and_is_billed(
    make_settings: Callable[..., Settings],
) -> None:
    sim = SimConfig(ttft_ms=1, itl_ms=10, tokens=1000, seed=10)  # ~10 s of tokens
    with llm_stack(make_settings, sim=sim, llm={"total_timeout_s": 1.0}) as stack:
        client = openai.OpenAI(base_url=f"{stack.gateway_url}/v1", api_key=ACME_KEY, max_retries=0)
        got = 0
        with pytest.raises(openai.APIError, match="total_timeout"):
            for chunk in client.chat.completions.create(
                model=MODEL, messages=MESSAGES, max_tokens=1000, stream=True
            ):
                got += bool(chunk.choices and chunk.choices[0].delta.content)
        assert 0 < got < 1000
        _wait_for(lambda: _metric(stack, "modelgate_llm_requests_in_flight") == 0)
        assert _metric(stack, "modelgate_requests_total", route="/v1/chat/completions", status="504") == 1
        assert _metric(stack, "modelgate_llm_tokens_total", tenant="acme", type="output") == got
