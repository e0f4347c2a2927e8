"""The fleet with real processes: three simulators (two replicas of llama, one of qwen) behind a
`modelgate serve` process, driven by the official `openai` client (its own retries off, so every error
the gateway lets through is seen).

- equal replicas split the load within 20 % of even; a replica slowed through the fault API gets clearly
  fewer requests; the other model's requests only ever reach its own replica;
- one llama replica is SIGKILLed mid-run at 32 concurrent clients / 600 requests: no request that had not
  started streaming fails; streams cut on it end with the OpenAI-shaped error event and are billed for
  the chunks delivered; restarted, it is re-admitted and takes traffic again;
- with every llama replica gone its fallback serves (response `model`, log row, metrics), then 503.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
from fleet_stack import LLAMA, PRICES, QWEN, Fleet, fleet
from openai.types.chat import ChatCompletionMessageParam

from support.conftest_helpers import ACME_KEY

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPLICAS = [("llama-a", LLAMA), ("llama-b", LLAMA), ("qwen-a", QWEN)]


@dataclass
class Result:
    request_id: str
    model: str
    stream: bool
    ok: bool
    chunks: int  # content chunks received (streams)
    error: str | None = None
    served_model: str | None = None


async def _one(
    client: openai.AsyncOpenAI,
    request_id: str,
    model: str,
    stream: bool,
    mid_stream: dict[str, str] | None = None,
) -> Result:
    """One request. A stream that has shown content and not ended is in `mid_stream` under its request
    id, with the response id its replica chose (each simulator process has its own id prefix)."""
    headers = {"x-request-id": request_id}
    messages: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": f"say something for {request_id}"}
    ]
    chunks = 0
    try:
        if not stream:
            resp = await client.chat.completions.create(
                model=model,
                messages=messages,
                max_tokens=12,
                extra_headers=headers,  # type: ignore[arg-type]
            )
            return Result(request_id, model, False, True, 0, served_model=resp.model)
        served = None
        events = await client.chat.completions.create(
            model=model,
            messages=messages,
            max_tokens=12,
            stream=True,
            extra_headers=headers,  # type: ignore[arg-type]
        )
        async for chunk in events:
            served = chunk.model
            if chunk.choices and chunk.choices[0].delta.content:
                chunks += 1
                if mid_stream is not None:
                    mid_stream[request_id] = chunk.id
        return Result(request_id, model, True, True, chunks, served_model=served)
    except openai.APIError as exc:
        return Result(request_id, model, stream, False, chunks, error=f"{type(exc).__name__}: {exc}")
    finally:
        if mid_stream is not None:
            mid_stream.pop(request_id, None)


async def _load(
    base_url: str,
    plan: list[tuple[str, str, bool]],
    concurrency: int,
    on_progress: Callable[[int], None] | None = None,
    mid_stream: dict[str, str] | None = None,
) -> list[Result]:
    queue: asyncio.Queue[tuple[str, str, bool]] = asyncio.Queue()
    for item in plan:
        queue.put_nowait(item)
    results: list[Result] = []
    async with openai.AsyncOpenAI(
        base_url=f"{base_url}/v1", api_key=ACME_KEY, max_retries=0, timeout=30
    ) as client:

        async def worker() -> None:
            while not queue.empty():
                rid, model, stream = queue.get_nowait()
                results.append(await _one(client, rid, model, stream, mid_stream))
                if on_progress is not None:
                    on_progress(len(results))

        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), timeout=240)
    return results


def _plan(prefix: str, n: int, *, qwen_every: int = 5, stream_every: int = 2) -> list[tuple[str, str, bool]]:
    return [
        (f"{prefix}-{i:04d}", QWEN if i % qwen_every == 0 else LLAMA, i % stream_every == 0) for i in range(n)
    ]


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory, churn_artifact: Path) -> Iterator[Fleet]:
    with fleet(tmp_path_factory.mktemp("fleet"), churn_artifact, REPLICAS) as f:
        yield f


def _retries(f: Fleet) -> float:
    return sum(v for (n, _), v in f.gateway_metrics().items() if n == "modelgate_upstream_retries_total")


def _failed_attempts(f: Fleet, upstream: str) -> float:
    """Attempts on `upstream` that ended in a failure (not answered, not left by their client)."""
    return (
        f.upstream_requests(upstream)
        - f.upstream_requests(upstream, "ok")
        - f.upstream_requests(upstream, "client_closed")
    )


def _served_delta(f: Fleet, before: dict[str, float]) -> dict[str, float]:
    return {name: sim.served() - before[name] for name, sim in f.sims.items()}


def test_models_are_listed_once_each(three: Fleet) -> None:
    r = httpx.get(
        f"{three.gateway_url}/v1/models", headers={"Authorization": f"Bearer {ACME_KEY}"}, timeout=10
    )
    assert r.status_code == 200
    ids = [m["id"] for m in r.json()["data"]]
    assert sorted(ids) == sorted([LLAMA, QWEN])
    # The entries are the replicas' own (vLLM's carry max_model_len), not stand-ins.
    assert all(m.get("owned_by") == "vllm" and m.get("max_model_len") for m in r.json()["data"])


def test_equal_replicas_split_within_20_percent_and_qwen_stays_on_its_replica(three: Fleet) -> None:
    before = {name: sim.served() for name, sim in three.sims.items()}
    results = asyncio.run(_load(three.gateway_url, _plan("even", 400), 32))
    assert [r.error for r in results if not r.ok] == []
    served = _served_delta(three, before)
    llama = sum(1 for r in results if r.model == LLAMA)
    qwen = len(results) - llama
    # Each simulator counts what it finished itself: llama's replicas only ever saw llama, qwen's only qwen.
    assert served["llama-a"] + served["llama-b"] == llama and served["qwen-a"] == qwen
    even = llama / 2
    assert abs(served["llama-a"] - even) <= 0.2 * even and abs(served["llama-b"] - even) <= 0.2 * even, served


def test_a_slowed_replica_receives_clearly_fewer_requests(three: Fleet) -> None:
    three.sims["llama-b"].set_faults(slow_factor=6.0)
    try:
        before = {name: sim.served() for name, sim in three.sims.items()}
        results = asyncio.run(_load(three.gateway_url, _plan("slow", 300, qwen_every=1000), 32))
        assert [r.error for r in results if not r.ok] == []
        served = _served_delta(three, before)
    finally:
        three.sims["llama-b"].set_faults(slow_factor=1.0)
    assert served["llama-a"] + served["llama-b"] == sum(1 for r in results if r.model == LLAMA)
    assert served["llama-b"] < 0.5 * served["llama-a"], served


def test_503s_from_an_engine_are_retried_elsewhere_and_eject_it(three: Fleet) -> None:
    victim = three.sims["llama-b"]
    retries_before = _retries(three)
    unavailable_before = three.upstream_requests("llama-b", "status_5xx")
    victim.set_faults(fail_rate=1.0, status=503)  # the engine refuses everything, its /health still 200
    try:
        results = asyncio.run(_load(three.gateway_url, _plan("busy", 120, qwen_every=1000), 16))
        refused = three.upstream_requests("llama-b", "status_5xx") - unavailable_before
    finally:
        victim.set_faults(fail_rate=0.0, status=500)
    assert [r.error for r in results if not r.ok] == []  # every refusal was retried on llama-a
    assert refused >= 3 and _retries(three) - retries_before == refused
    # A replica that fails fast always looks idle, so without ejection nearly every request would try it
    # first. Ejected after 3 refusals in a row, re-admitted by its good /health after the backoff and
    # ejected again, it sees a fraction of them.
    assert refused < len(results) / 2
    three.wait_healthy("llama-b", True)


def test_a_replica_whose_health_check_fails_gets_no_traffic_until_it_passes_again(three: Fleet) -> None:
    victim = three.sims["llama-b"]
    victim.set_faults(health_status=503)  # what vLLM's /health answers once its engine is dead
    try:
        three.wait_healthy("llama-b", False)
        before = victim.served()
        results = asyncio.run(_load(three.gateway_url, _plan("sick", 80, qwen_every=1000), 16))
        assert [r.error for r in results if not r.ok] == []
        assert victim.served() == before  # never chosen while ejected, though it would have answered
    finally:
        victim.set_faults(health_status=200)
    three.wait_healthy("llama-b", True)
    before = victim.served()
    results = asyncio.run(_load(three.gateway_url, _plan("well", 80, qwen_every=1000), 16))
    assert [r.error for r in results if not r.ok] == [] and victim.served() > before


def test_killing_a_replica_mid_run_loses_no_request_that_had_not_started_streaming(three: Fleet) -> None:
    victim = three.sims["llama-b"]
    # Each simulator process prefixes its response ids with its own 16 hex digits; asking the victim
    # directly (the gateway passes ids through) tells which streams the client sees are the victim's.
    probe = httpx.post(
        f"{victim.url}/v1/chat/completions",
        json={"model": LLAMA, "messages": [{"role": "user", "content": "id?"}], "max_tokens": 1},
        timeout=10,
    )
    victim_ids = probe.json()["id"][: len("chatcmpl-") + 16]
    killed_at: list[tuple[int, int]] = []
    progress = [0]
    mid_stream: dict[str, str] = {}
    stop = threading.Event()

    def killer() -> None:
        # SIGKILL once a third of the run is done and the client is reading several streams from the
        # victim, or from two thirds on as soon as it reads any. Counting the streams the client has
        # seen content of, not the gateway's requests open on the victim, is what makes streams cut
        # mid-way all but certain: an open request may not have streamed yet (it is then retried),
        # and in a full-suite run on a loaded machine a kill chosen that way once cut none. Polls every
        # 10 ms; ends with the run.
        while not stop.wait(0.01):
            done = progress[0]
            on_victim = sum(1 for rid in mid_stream.copy().values() if rid.startswith(victim_ids))
            if done >= 200 and (on_victim >= 3 or (done >= 400 and on_victim >= 1)):
                killed_at.append((done, on_victim))
                victim.kill()
                return

    def count(done: int) -> None:
        progress[0] = done

    plan = _plan("kill", 600)
    qwen_before = three.sims["qwen-a"].served()
    retries_before = _retries(three)
    victim_failed_before = _failed_attempts(three, "llama-b")
    # Streams of ~0.4 s, so that whatever the machine's load some are mid-way on llama-b when it dies.
    for sim in three.sims.values():
        sim.set_faults(slow_factor=3.0)
    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        results = asyncio.run(_load(three.gateway_url, plan, 32, on_progress=count, mid_stream=mid_stream))
    finally:
        stop.set()
        thread.join(10)
        for name, sim in three.sims.items():
            if name != "llama-b":
                sim.set_faults(slow_factor=1.0)
    assert killed_at, "the client read no stream from the victim from the run's third on: nothing was killed"
    assert len(results) == 600
    failed = [r for r in results if not r.ok]
    # Not one request failed before its stream started (non-streaming requests never "start").
    assert [r for r in failed if not r.stream or r.chunks == 0] == []
    rows = three.log_rows({r.request_id for r in results})
    assert len(rows) == 600
    # Streams cut mid-way are the killed replica's; each ended with the error event (the SDK raised
    # APIError from it) and is billed for exactly the chunks it delivered.
    assert failed, "no stream was running on the killed replica (the kill came too late?)"
    for r in failed:
        row = rows[r.request_id]
        assert row["upstream"] == "llama-b" and row["status"] >= 500, row
        assert "upstream stream failed" in (r.error or "")
        assert row["output_tokens"] == r.chunks and row["usage_estimated"] is True
        price = PRICES[LLAMA]
        expected = (row["input_tokens"] * price["input_per_mtok"] + r.chunks * price["output_per_mtok"]) / 1e6
        assert row["cost_usd"] == pytest.approx(expected)
    # Every other request was answered in full, llama's by a live replica (retries absorbed the rest).
    for r in results:
        if r.ok:
            row = rows[r.request_id]
            assert row["status"] == 200 and row["model"] == r.model == r.served_model
            assert (row["upstream"] == "qwen-a") == (r.model == QWEN)
    assert three.sims["qwen-a"].served() - qwen_before == sum(1 for r in results if r.model == QWEN)
    # Every attempt that failed on the dying replica was retried elsewhere, but for the streams it cut
    # mid-way (how many failed before their first byte depends on the moment of the kill).
    victim_failed = _failed_attempts(three, "llama-b") - victim_failed_before
    assert victim_failed >= len(failed) and _retries(three) - retries_before == victim_failed - len(failed)
    assert not three.healthy("llama-b")
    print(
        f"kill run: killed after {killed_at[0][0]} answers with {killed_at[0][1]} streams read from it; "
        f"{len(failed)} streams cut mid-way, "
        f"{_retries(three) - retries_before:.0f} retries, 0 other errors"
    )
    # Reserved once and settled once per request, retries or not: the ledger holds nothing any more and
    # has billed exactly what the log rows say (every request of this module so far).
    day = three.budget()
    assert day["reserved_usd"] == 0
    assert day["spent_usd"] == pytest.approx(three.logged_cost(), rel=1e-6)

    # Restarted on the same port, it is re-admitted by a health check and takes traffic again.
    victim.start()
    three.wait_healthy("llama-b", True)
    results = asyncio.run(_load(three.gateway_url, _plan("back", 100, qwen_every=1000), 16))
    assert [r.error for r in results if not r.ok] == []
    assert victim.served() > 10


def test_fallback_serves_when_every_replica_is_out_then_503_names_the_model(
    tmp_path: Path, churn_artifact: Path
) -> None:
    with fleet(
        tmp_path,
        churn_artifact,
        [("llama-a", LLAMA), ("qwen-a", QWEN)],
        fallbacks={LLAMA: [QWEN]},
        daily_usd=10.0,
    ) as f:
        auth = {"Authorization": f"Bearer {ACME_KEY}"}
        # The reservation bounds the dearest model that might serve it: 3000 output tokens cost $6 on
        # llama but $18 on its fallback, over the $10 budget, so it is refused before any upstream call.
        big = {"model": LLAMA, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3000}
        refused = httpx.post(f"{f.gateway_url}/v1/chat/completions", json=big, headers=auth, timeout=10)
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exceeded"

        ready = httpx.get(f"{f.gateway_url}/readyz", timeout=10).json()
        assert ready["status"] == "ready" and ready["degraded"] == []
        assert ready["checks"]["llm_fleet"] == {"ready": True, "healthy_replicas": {LLAMA: 1, QWEN: 1}}

        f.sims["llama-a"].kill()
        results = asyncio.run(_load(f.gateway_url, _plan("fallback", 40, qwen_every=1000), 8))
        assert [r.error for r in results if not r.ok] == []
        llama = [r for r in results if r.model == LLAMA]
        assert {r.served_model for r in llama} == {QWEN}  # the response says who served it
        rows = f.log_rows({r.request_id for r in llama})
        price = PRICES[QWEN]
        for r in llama:
            row = rows[r.request_id]
            assert (row["model"], row["requested_model"], row["upstream"]) == (QWEN, LLAMA, "qwen-a")
            expected = (
                row["input_tokens"] * price["input_per_mtok"]
                + row["output_tokens"] * price["output_per_mtok"]
            ) / 1e6
            assert row["cost_usd"] == pytest.approx(expected)  # settled at the served model's price
        samples = f.gateway_metrics()
        key = ("modelgate_upstream_fallbacks_total", (("fallback_model", QWEN), ("model", LLAMA)))
        assert samples[key] == len(llama)
        f.wait_healthy("llama-a", False)

        f.sims["qwen-a"].kill()
        f.wait_healthy("qwen-a", False)
        for model, named in (
            (LLAMA, f"model '{LLAMA}' nor its fallback '{QWEN}'"),
            (QWEN, f"model '{QWEN}'"),
        ):
            body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
            response = httpx.post(f"{f.gateway_url}/v1/chat/completions", json=body, headers=auth, timeout=10)
            assert response.status_code == 503 and named in response.json()["error"]["message"], response.text
        assert f.healthy("llama-a") is False
        # No replica left: /readyz says so, but stays 200 (the churn lane still serves; docs/api.md).
        response = httpx.get(f"{f.gateway_url}/readyz", timeout=10)
        assert response.status_code == 200 and response.json()["status"] == "degraded", response.text
        assert response.json()["degraded"] == ["llm_fleet"] and response.json()["not_ready"] == []
        fleet_check = response.json()["checks"]["llm_fleet"]
        assert fleet_check == {
            "ready": False,
            "reason": "no_healthy_replica",
            "healthy_replicas": {LLAMA: 0, QWEN: 0},
        }
