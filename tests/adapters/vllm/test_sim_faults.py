"""Fault injection, set at start-up or through /admin/faults while the simulator runs."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from adapters.vllm.sim import SimConfig, SimServer

pytestmark = pytest.mark.integration

CHAT = {"model": "sim-llama-3-8b", "messages": [{"role": "user", "content": "ping"}], "max_tokens": 8}
DEFAULTS = {
    "fail_rate": 0.0,
    "status": 500,
    "hang_rate": 0.0,
    "drop_rate": 0.0,
    "wrong_rate": 0.0,
    "overreport_tokens": 0,
}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(SimConfig(ttft_ms=1, itl_ms=0.5, tokens=8)) as server:
        yield server


@pytest.fixture
def http(sim: SimServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, timeout=10) as client:
        yield client
        client.post("/admin/faults", json=DEFAULTS).raise_for_status()


def test_admin_faults_read_and_validate(http: httpx.Client) -> None:
    assert http.get("/admin/faults").json() == {**DEFAULTS, "retry_after": 1, "hang_seconds": 3600.0}
    updated = http.post("/admin/faults", json={"drop_rate": 0.25, "status": 429})
    assert updated.status_code == 200
    assert updated.json()["drop_rate"] == 0.25 and updated.json()["status"] == 429
    assert http.get("/admin/faults").json()["drop_rate"] == 0.25
    for bad in ({"fail_rate": 2}, {"status": 418}, {"nope": 1}):
        resp = http.post("/admin/faults", json=bad)
        assert resp.status_code == 400
        assert resp.json()["error"]["type"] == "BadRequestError"
    assert http.post("/admin/faults", content=b"[").status_code == 400


def test_fail_rate_one_turns_every_request_into_500(sim: SimServer, http: httpx.Client) -> None:
    assert http.post("/v1/chat/completions", json=CHAT).status_code == 200
    http.post("/admin/faults", json={"fail_rate": 1.0}).raise_for_status()
    statuses = {http.post("/v1/chat/completions", json=CHAT).status_code for _ in range(20)}
    assert statuses == {500}
    body = http.post("/v1/completions", json={"prompt": "x"}).json()
    assert body["error"]["type"] == "InternalServerError" and body["error"]["code"] == 500
    with (
        openai.OpenAI(base_url=sim.base_url + "/v1", api_key="unused", max_retries=0) as client,
        pytest.raises(openai.InternalServerError),
    ):
        client.chat.completions.create(model="sim-llama-3-8b", messages=[{"role": "user", "content": "x"}])
    # Turning it off mid-run restores service at once.
    http.post("/admin/faults", json={"fail_rate": 0.0}).raise_for_status()
    assert http.post("/v1/chat/completions", json=CHAT).status_code == 200


@pytest.mark.parametrize(("status", "exc"), [(429, openai.RateLimitError), (503, openai.InternalServerError)])
def test_429_and_503_carry_retry_after(
    sim: SimServer, http: httpx.Client, status: int, exc: type[openai.APIStatusError]
) -> None:
    http.post("/admin/faults", json={"fail_rate": 1.0, "status": status, "retry_after": 7}).raise_for_status()
    resp = http.post("/v1/chat/completions", json=CHAT)
    assert resp.status_code == status
    assert resp.headers["retry-after"] == "7"
    with (
        openai.OpenAI(base_url=sim.base_url + "/v1", api_key="unused", max_retries=0) as client,
        pytest.raises(exc) as info,
    ):
        client.chat.completions.create(model="sim-llama-3-8b", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == status


def test_partial_fail_rate(http: httpx.Client) -> None:
    http.post("/admin/faults", json={"fail_rate": 0.5}).raise_for_status()
    statuses = [http.post("/v1/completions", json={"prompt": "x"}).status_code for _ in range(100)]
    assert 25 <= statuses.count(500) <= 75
    assert set(statuses) == {200, 500}


def test_drop_breaks_the_stream_mid_way(sim: SimServer, http: httpx.Client) -> None:
    http.post("/admin/faults", json={"drop_rate": 1.0}).raise_for_status()
    lines: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        http.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as resp,
    ):
        assert resp.status_code == 200
        lines.extend(line for line in resp.iter_lines() if line)
    assert lines[0].startswith("data: {")  # some chunks arrived ...
    assert "data: [DONE]" not in lines  # ... but never the end
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/v1/chat/completions", json=CHAT)  # non-streaming: the body is cut short
    with openai.OpenAI(base_url=sim.base_url + "/v1", api_key="unused", max_retries=0) as client:
        stream = client.chat.completions.create(
            model="sim-llama-3-8b", messages=[{"role": "user", "content": "x"}], stream=True
        )
        # The SDK reports the cut connection as a connection error caused by a protocol error (from
        # its own copy of httpx, `httpx2`, hence the check by name).
        with pytest.raises(openai.APIConnectionError) as info:
            list(stream)
        assert type(info.value.__cause__).__name__ == "RemoteProtocolError"
    http.post("/admin/faults", json={"drop_rate": 0.0}).raise_for_status()
    metrics = http.get("/metrics").text
    assert 'vllm:request_success_total{finished_reason="abort",model_name="sim-llama-3-8b"} 3.0' in metrics
    assert 'vllm_sim_faults_injected_total{kind="drop"} 3.0' in metrics


def test_hang_outlasts_the_client_timeout_without_blocking_others(http: httpx.Client) -> None:
    http.post("/admin/faults", json={"hang_rate": 1.0}).raise_for_status()
    start = time.perf_counter()
    with pytest.raises(httpx.ReadTimeout):
        http.post("/v1/chat/completions", json=CHAT, timeout=0.3)
    assert time.perf_counter() - start < 5
    http.post("/admin/faults", json={"hang_rate": 0.0}).raise_for_status()
    assert http.post("/v1/chat/completions", json=CHAT).status_code == 200
    assert 'vllm_sim_faults_injected_total{kind="hang"} 1.0' in http.get("/metrics").text


def test_faults_from_the_config() -> None:
    with SimServer(SimConfig(ttft_ms=0, itl_ms=0, fail_rate=1.0, fail_status=503)) as sim:
        resp = httpx.post(sim.base_url + "/v1/completions", json={"prompt": "x"})
    assert resp.status_code == 503
    assert resp.json()["error"]["type"] == "ServiceUnavailableError"
