"""The LLM lane end to end: the official openai SDK → gateway (uvicorn) → vLLM simulator (uvicorn)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator

import httpx
import openai
import pyarrow.dataset as ds
import pytest

from adapters.vllm.sim.config import SimConfig
from gateway.settings import Settings
from support.conftest_helpers import ACME_KEY, GLOBEX_KEY, metric_samples
from support.llm_stack import MODEL, LLMStack, llm_stack

pytestmark = pytest.mark.integration

MESSAGES = [{"role": "user", "content": "tell me about churn models please"}]


@pytest.fixture
def stack(make_settings: Callable[..., Settings]) -> Iterator[LLMStack]:
    with llm_stack(make_settings) as s:
        yield s


def _client(stack: LLMStack, key: str = ACME_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stack.gateway_url}/v1", api_key=key, max_retries=0)


def _samples(stack: LLMStack) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return metric_samples(httpx.get(f"{stack.gateway_url}/metrics").text)


def _tokens(samples: dict, kind: str, tenant: str = "acme") -> float:
    return samples.get(
        ("modelgate_llm_tokens_total", (("model", MODEL), ("tenant", tenant), ("type", kind))), 0.0
    )


def test_sync_and_async_sdk_streaming_and_not(stack: LLMStack) -> None:
    client = _client(stack)
    reported_in = reported_out = 0
    r = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=6)
    assert r.choices[0].message.content and r.usage is not None
    reported_in += r.usage.prompt_tokens
    reported_out += r.usage.completion_tokens
    # stream without include_usage: the usage-only chunk the gateway asked for is not forwarded
    chunks = list(client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=6, stream=True))
    assert all(c.usage is None for c in chunks) and all(c.choices for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text
    # stream with include_usage: the client gets it
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=MESSAGES, max_tokens=6, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    reported_in += chunks[-1].usage.prompt_tokens
    reported_out += chunks[-1].usage.completion_tokens
    comp = client.completions.create(model=MODEL, prompt="once upon a time", max_tokens=4)
    assert comp.choices[0].text and comp.usage is not None
    reported_in += comp.usage.prompt_tokens
    reported_out += comp.usage.completion_tokens

    async def run_async() -> tuple[int, int]:
        aclient = openai.AsyncOpenAI(base_url=f"{stack.gateway_url}/v1", api_key=ACME_KEY, max_retries=0)
        r = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=3)
        stream = await aclient.chat.completions.create(
            model=MODEL, messages=MESSAGES, max_tokens=3, stream=True, stream_options={"include_usage": True}
        )
        usage = None
        async for chunk in stream:
            usage = chunk.usage or usage
        await aclient.close()
        assert r.usage is not None and usage is not None
        return (
            r.usage.prompt_tokens + usage.prompt_tokens,
            r.usage.completion_tokens + usage.completion_tokens,
        )

    a_in, _a_out = asyncio.run(run_async())
    samples = _samples(stack)
    # the hidden usage of the stream without include_usage is billed too: the simulator's own counters know it
    sim = metric_samples(httpx.get(f"{stack.sim_url}/metrics").text)
    sim_in = sum(v for (n, _), v in sim.items() if n == "vllm:prompt_tokens_total")
    sim_out = sum(v for (n, _), v in sim.items() if n == "vllm:generation_tokens_total")
    assert _tokens(samples, "input") == sim_in and _tokens(samples, "output") == sim_out
    assert sim_in > reported_in + a_in  # the unreported stream is included in both
    cost = samples[("modelgate_llm_cost_usd_total", (("model", MODEL), ("tenant", "acme")))]
    assert cost == pytest.approx(sim_in * 1000 / 1e6 + sim_out * 2000 / 1e6, rel=1e-12)
    assert (
        samples[("modelgate_llm_requests_total", (("model", MODEL), ("status", "200"), ("tenant", "acme")))]
        == 6
    )
    assert samples[("gen_ai_server_time_to_first_token_seconds_count", (("model", MODEL),))] == 3
    assert samples[("gen_ai_server_time_per_output_token_seconds_count", (("model", MODEL),))] > 0
    assert samples[("modelgate_llm_requests_in_flight", (("model", MODEL),))] == 0
    models = _client(stack).models.list()
    assert [m.id for m in models.data] == [MODEL]


def test_unknown_model_and_bad_request_are_refused_clearly(stack: LLMStack) -> None:
    client = _client(stack)
    with pytest.raises(openai.NotFoundError, match="not served"):
        client.chat.completions.create(model="gpt-nope", messages=MESSAGES)
    r = httpx.post(
        f"{stack.gateway_url}/v1/chat/completions",
        json={"model": MODEL, "messages": [], "max_tokens": 3},
        headers={"Authorization": f"Bearer {ACME_KEY}"},
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages"
    r = httpx.post(
        f"{stack.gateway_url}/v1/chat/completions",
        json={"model": MODEL, "messages": MESSAGES, "max_tokens": -1},
        headers={"Authorization": f"Bearer {ACME_KEY}"},
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "max_tokens"
    with pytest.raises(openai.AuthenticationError):
        _client(stack, "mg-wrong").chat.completions.create(model=MODEL, messages=MESSAGES)


@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        (
            {"fail_rate": 1.0, "status": 500},
            openai.BadGatewayError if hasattr(openai, "BadGatewayError") else openai.InternalServerError,
        ),
        ({"fail_rate": 1.0, "status": 503}, openai.InternalServerError),
        ({"fail_rate": 1.0, "status": 429}, openai.RateLimitError),
    ],
)
def test_upstream_errors_reach_the_client_openai_shaped(
    stack: LLMStack, faults: dict, expected: type
) -> None:
    stack.set_faults(**faults)
    with pytest.raises(openai.APIStatusError) as info:
        _client(stack).chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=3)
    status = info.value.status_code
    assert status == {500: 502, 503: 503, 429: 429}[faults["status"]]
    body = info.value.response.json()["error"]
    assert set(body) == {"message", "type", "param", "code"}
    # nothing was delivered, so nothing is billed; the reservation went back
    samples = _samples(stack)
    assert _tokens(samples, "output") == 0
    assert (
        samples[
            ("modelgate_llm_requests_total", (("model", MODEL), ("status", str(status)), ("tenant", "acme")))
        ]
        == 1
    )


def test_unreachable_upstream_is_503_and_a_hang_is_504(make_settings: Callable[..., Settings]) -> None:
    with llm_stack(make_settings, llm={"first_byte_timeout_s": 0.5, "total_timeout_s": 1.0}) as stack:
        stack.set_faults(hang_rate=1.0)
        r = httpx.post(
            f"{stack.gateway_url}/v1/chat/completions",
            json={"model": MODEL, "messages": MESSAGES, "max_tokens": 3},
            headers={"Authorization": f"Bearer {ACME_KEY}"},
            timeout=10,
        )
        assert r.status_code == 504 and r.json()["error"]["code"] == "upstream_timeout"
    port_closed = "http://127.0.0.1:9/v1"
    with llm_stack(make_settings, llm={"upstream_url": port_closed}) as stack:
        r = httpx.post(
            f"{stack.gateway_url}/v1/chat/completions",
            json={"model": MODEL, "messages": MESSAGES, "max_tokens": 3},
            headers={"Authorization": f"Bearer {ACME_KEY}"},
            timeout=10,
        )
        assert r.status_code == 503 and r.json()["error"]["code"] == "upstream_unavailable"


def test_a_stream_dropped_mid_way_ends_with_an_error_event(make_settings: Callable[..., Settings]) -> None:
    with llm_stack(make_settings, sim=SimConfig(ttft_ms=1, itl_ms=1, tokens=20, seed=2)) as stack:
        stack.set_faults(drop_rate=1.0)
        client = _client(stack)
        got: list[str] = []
        with pytest.raises(openai.APIError):
            for chunk in client.chat.completions.create(
                model=MODEL, messages=MESSAGES, max_tokens=20, stream=True
            ):
                if chunk.choices:
                    got.append(chunk.choices[0].delta.content or "")
        samples = _samples(stack)
        # what was delivered before the drop is billed, marked as an estimate
        assert _tokens(samples, "output") == sum(1 for g in got if g)
        errors = samples[
            ("modelgate_llm_upstream_errors_total", (("error_type", "stream_broken"), ("model", MODEL)))
        ]
        assert errors == 1
        # The client got a 200 header, but the request failed: the SLO's series count it as a 502.
        route = (("backend", "llm"), ("method", "POST"), ("route", "/v1/chat/completions"))
        assert samples[("modelgate_requests_total", (*route, ("status", "502")))] == 1
        assert ("modelgate_requests_total", (*route, ("status", "200"))) not in samples
        stream_failures = (
            "modelgate_llm_stream_failures_total",
            (("kind", "stream_broken"), ("model", MODEL)),
        )
        assert samples[stream_failures] == 1


def test_client_disconnect_mid_stream_bills_the_tokens_delivered(
    make_settings: Callable[..., Settings],
) -> None:
    with llm_stack(make_settings, sim=SimConfig(ttft_ms=1, itl_ms=40, tokens=200, seed=3)) as stack:
        delivered = 0
        with httpx.stream(
            "POST",
            f"{stack.gateway_url}/v1/chat/completions",
            json={"model": MODEL, "messages": MESSAGES, "max_tokens": 200, "stream": True},
            headers={"Authorization": f"Bearer {ACME_KEY}"},
            timeout=10,
        ) as r:
            for line in r.iter_lines():
                if (
                    line.startswith("data:")
                    and '"content":"' in line.replace(" ", "")
                    and '"content":""' not in line.replace(" ", "")
                ):
                    delivered += 1
                if delivered == 5:
                    break  # leaving the block closes the connection mid-stream
        deadline = time.monotonic() + 5
        samples = _samples(stack)
        while time.monotonic() < deadline:
            samples = _samples(stack)
            if samples.get(
                ("modelgate_llm_requests_total", (("model", MODEL), ("status", "499"), ("tenant", "acme")))
            ):
                break
            time.sleep(0.05)
        assert (
            samples[
                ("modelgate_llm_requests_total", (("model", MODEL), ("status", "499"), ("tenant", "acme")))
            ]
            == 1
        )
        billed = _tokens(samples, "output")
        assert delivered <= billed <= delivered + 2  # chunks in flight when the socket closed
        sim = metric_samples(httpx.get(f"{stack.sim_url}/metrics").text)
        # the upstream request was cancelled, not generated to the end
        assert sum(v for (n, _), v in sim.items() if n == "vllm:generation_tokens_total") < 200
        budget = httpx.get(
            f"{stack.gateway_url}/v1/budget", headers={"Authorization": f"Bearer {ACME_KEY}"}
        ).json()
        assert budget["day"]["reserved_usd"] == 0
        assert budget["day"]["spent_usd"] == pytest.approx(
            samples[("modelgate_llm_cost_usd_total", (("model", MODEL), ("tenant", "acme")))], rel=1e-9
        )


def test_200_concurrent_requests_never_overspend(make_settings: Callable[..., Settings], tmp_path) -> None:
    # price: 1000 $/Mtok in, 2000 $/Mtok out; max_tokens 10 → worst case ≈ 0.02 + input; real ≈ 0.02 + input.
    # A daily budget of 1.5 fits about 50 such requests.
    from gateway.auth import hash_key

    tenants = [{"name": "acme", "key_sha256": hash_key(ACME_KEY), "daily_usd": 1.5, "monthly_usd": 100.0}]
    with llm_stack(
        make_settings,
        sim=SimConfig(ttft_ms=5, itl_ms=2, tokens=10, seed=4),
        tenants=tenants,
        # this test is about the budget; the concurrency cap has its own
        llm={"max_concurrent_per_tenant": 500},
    ) as stack:

        async def fire() -> list[int]:
            limits = httpx.Limits(max_connections=200)
            async with httpx.AsyncClient(base_url=stack.gateway_url, limits=limits, timeout=30) as c:

                async def one(i: int) -> int:
                    r = await c.post(
                        "/v1/chat/completions",
                        json={
                            "model": MODEL,
                            "messages": [{"role": "user", "content": f"q{i} hi"}],
                            "max_tokens": 10,
                            "stream": i % 2 == 0,
                        },
                        headers={"Authorization": f"Bearer {ACME_KEY}"},
                    )
                    await r.aread()
                    return r.status_code

                return await asyncio.gather(*(one(i) for i in range(200)))

        statuses = asyncio.run(fire())
        ok, refused = statuses.count(200), statuses.count(429)
        assert ok + refused == 200
        assert 30 <= ok <= 75, statuses
        samples = _samples(stack)
        spent = samples[("modelgate_llm_cost_usd_total", (("model", MODEL), ("tenant", "acme")))]
        assert spent <= 1.5
        budget = httpx.get(
            f"{stack.gateway_url}/v1/budget", headers={"Authorization": f"Bearer {ACME_KEY}"}
        ).json()
        assert (
            budget["day"]["spent_usd"] == pytest.approx(spent, rel=1e-9) and budget["day"]["spent_usd"] <= 1.5
        )
        assert (
            samples[("modelgate_budget_refusals_total", (("tenant", "acme"), ("window", "day")))] == refused
        )
        assert samples[("modelgate_tenant_spend_usd", (("tenant", "acme"), ("window", "day")))] <= 1.5
        assert samples[("modelgate_tenant_budget_usd", (("tenant", "acme"), ("window", "day")))] == 1.5
        # a request whose worst case cannot fit is an OpenAI-shaped 429 with code budget_exceeded
        with pytest.raises(openai.RateLimitError) as info:
            _client(stack).chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=1000)
        assert info.value.code == "budget_exceeded"


def test_budget_is_per_tenant_and_survives_a_restart(make_settings: Callable[..., Settings]) -> None:
    with llm_stack(make_settings) as stack:
        _client(stack).chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=4)
        acme = httpx.get(
            f"{stack.gateway_url}/v1/budget", headers={"Authorization": f"Bearer {ACME_KEY}"}
        ).json()
        globex = httpx.get(
            f"{stack.gateway_url}/v1/budget", headers={"Authorization": f"Bearer {GLOBEX_KEY}"}
        ).json()
        assert acme["tenant"] == "acme" and acme["day"]["spent_usd"] > 0 and acme["day"]["budget_usd"] == 10.0
        assert globex["tenant"] == "globex" and globex["day"]["spent_usd"] == 0
        assert httpx.get(f"{stack.gateway_url}/v1/budget").status_code == 401
        spent = acme["day"]["spent_usd"]
    with llm_stack(make_settings) as stack:  # same data dir → same SQLite ledger
        again = httpx.get(
            f"{stack.gateway_url}/v1/budget", headers={"Authorization": f"Bearer {ACME_KEY}"}
        ).json()
        assert again["day"]["spent_usd"] == pytest.approx(spent)


def test_llm_requests_are_logged_without_content_by_default(stack: LLMStack) -> None:
    _client(stack).chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=4)
    deadline = time.monotonic() + 10
    rows: list[dict] = []
    while time.monotonic() < deadline and not rows:
        with contextlib.suppress(FileNotFoundError, OSError):
            rows = (
                ds.dataset(stack.settings.llm_log_uri, format="parquet", partitioning="hive")
                .to_table()
                .to_pylist()
            )
        time.sleep(0.1)
    (row,) = rows
    assert row["tenant"] == "acme" and row["model"] == MODEL and row["status"] == 200
    assert row["output_tokens"] > 0 and row["cost_usd"] > 0 and row["input_messages"] is None
