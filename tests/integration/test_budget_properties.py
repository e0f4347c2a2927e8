"""Property tests: for generated request bodies, the reservation bounds what the upstream really generated.

Real gateway, real simulator (which reads bodies as vLLM's pydantic models do), hypothesis-generated bodies
in every shape that sets how much is generated: chat and completions; string, list, token-id and
token-id-list prompts; `n` and `best_of` as ints, strings, floats or null; `max_tokens` and
`max_completion_tokens` present, absent or null; streamed or not, with or without usage.

1. For every accepted request, the upstream-reported usage priced ≤ what was reserved (the LLM log row
   carries both) and no overrun is counted; the gateway's token counters equal the simulator's own.
2. For a tenant with budget B, any mix of accepted requests, sequential and concurrent, streamed and not,
   leaves committed spend ≤ B.
3. An upstream that reports more than it was allowed is billed what it reported and counted as an overrun.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.dataset as ds
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from servers import uvicorn_thread

from adapters.vllm.sim.app import create_sim_app
from adapters.vllm.sim.config import SimConfig
from gateway.app import create_app
from gateway.auth import hash_key
from gateway.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "sim-llama-3-8b"
BUDGET_TENANTS = 25
BUDGET_USD = 0.01
# $1 in / $20 out per million tokens: $0.01 buys ~500 output tokens, a handful of the requests below.
PRICES = {MODEL: {"input_per_mtok": 1.0, "output_per_mtok": 20.0}}
SHAPES: set[tuple[Any, ...]] = set()


def _key(name: str) -> str:
    return f"mg-test-{name}-0123456789abcdef"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, churn_artifact: Path) -> Iterator[dict[str, Any]]:
    sim = SimConfig(ttft_ms=0, itl_ms=0, tokens=48, max_model_len=4096, seed=21)
    tenants = [{"name": "open", "key_sha256": hash_key(_key("open"))}] + [
        {"name": f"b{i}", "key_sha256": hash_key(_key(f"b{i}")), "daily_usd": BUDGET_USD}
        for i in range(BUDGET_TENANTS)
    ]
    data = tmp_path_factory.mktemp("props")
    with uvicorn_thread(create_sim_app(sim), ready_path="/health") as sim_url:
        settings = Settings(
            data_dir=data,  # type: ignore[arg-type]
            churn={"artifact_dir": churn_artifact},  # type: ignore[arg-type]
            prediction_log={"flush_seconds": 0.2},  # type: ignore[arg-type]
            llm={  # type: ignore[arg-type]
                "upstream_url": f"{sim_url}/v1",
                "models": [MODEL],
                "prices": PRICES,
                "max_tokens_cap": 256,
                "max_n": 4,
                "max_prompts": 4,
                "max_concurrent_per_tenant": 256,
            },
            tenants=tenants,  # type: ignore[arg-type]
        )
        with uvicorn_thread(create_app(settings)) as gateway_url:
            yield {
                "gateway": gateway_url,
                "sim": sim_url,
                "settings": settings,
                "next_tenant": iter(range(99)),
            }


# ---- request bodies -------------------------------------------------------------------------------------

_words = st.text(alphabet="abcdefgh ", min_size=1, max_size=30).filter(str.strip)
_token_ids = st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=12)


def _as_sent(value: int) -> st.SearchStrategy[Any]:
    """An integer the way clients send it: an int, a string of one, or a whole float (vLLM coerces all)."""
    return st.sampled_from([value, str(value), float(value)])


_count = st.integers(min_value=1, max_value=4).flatmap(_as_sent)
_limit = st.one_of(st.none(), st.integers(min_value=1, max_value=64).flatmap(_as_sent))


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    chat = draw(st.booleans())
    body: dict[str, Any] = {"model": MODEL}
    if chat:
        body["messages"] = [{"role": "user", "content": draw(_words)}]
        shape: list[Any] = ["chat"]
    else:
        kind = draw(st.sampled_from(["str", "strs", "ids", "id-lists"]))
        prompts = {
            "str": _words,
            "strs": st.lists(_words, min_size=1, max_size=4),
            "ids": _token_ids,
            "id-lists": st.lists(_token_ids, min_size=1, max_size=4),
        }
        body["prompt"] = draw(prompts[kind])
        shape = ["completion", kind]
    limit_fields = ["max_tokens", "max_completion_tokens"] if chat else ["max_tokens"]
    for name in limit_fields:
        present = draw(st.sampled_from(["absent", "null", "value"]))
        if present == "null":
            body[name] = None
        elif present == "value":
            body[name] = draw(_limit.filter(lambda v: v is not None))
        shape.append(f"{name}:{present}")
    if draw(st.booleans()):
        body["n"] = draw(st.one_of(_count, st.none()) if chat else _count)
        shape.append(f"n:{type(body['n']).__name__}")
    if not chat and draw(st.booleans()):
        body["best_of"] = draw(st.integers(min_value=1, max_value=4))
        shape.append("best_of")
    stream = draw(st.booleans())
    if stream:
        body["stream"] = True
        if draw(st.booleans()):
            body["stream_options"] = {"include_usage": draw(st.booleans())}
    shape.append(f"stream:{stream}")
    SHAPES.add(tuple(shape))
    return ("/v1/chat/completions" if chat else "/v1/completions"), body


async def _send(client: httpx.AsyncClient, path: str, body: dict[str, Any], key: str) -> int:
    headers = {"Authorization": f"Bearer {key}"}
    if body.get("stream"):
        async with client.stream("POST", path, json=body, headers=headers) as r:
            async for _ in r.aiter_lines():
                pass
            return r.status_code
    r = await client.post(path, json=body, headers=headers)
    return r.status_code


def _metrics(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=5).text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(
        v for (n, ls), v in samples.items() if n == name and all((k, v2) in ls for k, v2 in labels.items())
    )


# ---- 1. the reservation bounds every accepted request ---------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=bodies())
def test_every_accepted_request_costs_at_most_what_was_reserved(stack: dict[str, Any], request: Any) -> None:
    path, body = request
    gateway_before, sim_before = _metrics(stack["gateway"]), _metrics(stack["sim"])

    async def go() -> int:
        async with httpx.AsyncClient(base_url=stack["gateway"], timeout=30) as c:
            return await _send(c, path, body, _key("open"))

    status = asyncio.run(go())
    # A 400 is a refusal the gateway explains (e.g. best_of < n); nothing else is acceptable.
    assert status in (200, 400), (status, body)
    gateway, sim = _metrics(stack["gateway"]), _metrics(stack["sim"])

    def delta(after: Any, before: Any, name: str, **labels: str) -> float:
        return _total(after, name, **labels) - _total(before, name, **labels)

    # what the upstream reported is what was billed, and it never cost more than the reservation
    assert delta(gateway, gateway_before, "modelgate_budget_overrun_total") == 0
    billed_out = delta(gateway, gateway_before, "modelgate_llm_tokens_total", tenant="open", type="output")
    assert billed_out == delta(sim, sim_before, "vllm:generation_tokens_total"), body
    billed_in = delta(gateway, gateway_before, "modelgate_llm_tokens_total", tenant="open", type="input")
    assert billed_in == delta(sim, sim_before, "vllm:prompt_tokens_total"), body


# One body of each kind, so the log check below has work of its own when run alone.
_FIXED = [
    ("/v1/completions", {"model": MODEL, "prompt": ["ab cd", "ef"], "n": "3", "max_tokens": 20}),
    ("/v1/completions", {"model": MODEL, "prompt": [[1, 2, 3], [4]], "best_of": 2, "stream": True}),
    ("/v1/completions", {"model": MODEL, "prompt": [7, 8, 9], "max_tokens": None}),
    ("/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "n": 2.0}),
    (
        "/v1/chat/completions",
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "yo"}],
            "max_completion_tokens": "9",
            "stream": True,
        },
    ),
]


def test_every_logged_request_cost_at_most_its_reservation(stack: dict[str, Any]) -> None:
    async def go() -> list[int]:
        async with httpx.AsyncClient(base_url=stack["gateway"], timeout=30) as c:
            return [await _send(c, p, b, _key("open")) for p, b in _FIXED]

    assert asyncio.run(go()) == [200] * len(_FIXED)
    gateway = _metrics(stack["gateway"])
    settings_: Settings = stack["settings"]
    deadline = time.monotonic() + 10
    rows: list[dict[str, Any]] = []
    accepted = _total(gateway, "modelgate_llm_requests_total", tenant="open", status="200")
    while time.monotonic() < deadline:
        rows = ds.dataset(settings_.llm_log_uri, format="parquet", partitioning="hive").to_table().to_pylist()
        if len([r for r in rows if r["tenant"] == "open" and r["status"] == 200]) >= accepted:
            break
        time.sleep(0.2)
    done = [r for r in rows if r["tenant"] == "open" and r["status"] == 200]
    assert len(done) == accepted > 0
    for row in done:
        assert row["cost_usd"] <= row["reserved_usd"] + 1e-12, row
        assert row["budget_overrun_usd"] == 0.0
    print(f"\n{len(SHAPES)} distinct request shapes, {len(done)} accepted requests; largest overspend: $0")


# ---- 2. budgets hold for any mix -------------------------------------------------------------------------


@settings(
    max_examples=BUDGET_TENANTS, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(requests=st.lists(bodies(), min_size=2, max_size=16), concurrent=st.booleans())
def test_any_mix_of_requests_leaves_spend_within_the_budget(
    stack: dict[str, Any], requests: list[tuple[str, dict[str, Any]]], concurrent: bool
) -> None:
    tenant = f"b{next(stack['next_tenant'])}"
    key = _key(tenant)

    async def go() -> list[int]:
        async with httpx.AsyncClient(base_url=stack["gateway"], timeout=30) as c:
            if concurrent:
                return list(await asyncio.gather(*(_send(c, p, b, key) for p, b in requests)))
            return [await _send(c, p, b, key) for p, b in requests]

    statuses = asyncio.run(go())
    assert set(statuses) <= {200, 400, 429}, statuses
    view = httpx.get(f"{stack['gateway']}/v1/budget", headers={"Authorization": f"Bearer {key}"}).json()
    assert view["day"]["reserved_usd"] == 0.0
    assert view["day"]["spent_usd"] <= BUDGET_USD + 1e-12, (view, statuses)


# ---- 3. an upstream that over-reports --------------------------------------------------------------------


def test_an_upstream_reporting_more_than_allowed_is_billed_as_reported_and_counted(
    stack: dict[str, Any],
) -> None:
    httpx.post(f"{stack['sim']}/admin/faults", json={"overreport_tokens": 1000}, timeout=5).raise_for_status()
    try:
        before = _metrics(stack["gateway"])
        r = httpx.post(
            f"{stack['gateway']}/v1/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4},
            headers={"Authorization": f"Bearer {_key('open')}"},
            timeout=10,
        )
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 4 + 1000
        after = _metrics(stack["gateway"])
    finally:
        httpx.post(
            f"{stack['sim']}/admin/faults", json={"overreport_tokens": 0}, timeout=5
        ).raise_for_status()
    overruns = _total(after, "modelgate_budget_overrun_total", tenant="open")
    assert overruns - _total(before, "modelgate_budget_overrun_total", tenant="open") == 1
    billed = _total(after, "modelgate_llm_tokens_total", tenant="open", type="output") - _total(
        before, "modelgate_llm_tokens_total", tenant="open", type="output"
    )
    assert billed == 1004
    request_id = r.headers["x-request-id"]
    settings_: Settings = stack["settings"]
    deadline = time.monotonic() + 10
    row: dict[str, Any] | None = None
    while row is None and time.monotonic() < deadline:
        table = ds.dataset(settings_.llm_log_uri, format="parquet", partitioning="hive").to_table()
        row = next((x for x in table.to_pylist() if x["request_id"] == request_id), None)
        time.sleep(0.1)
    assert row is not None and row["budget_overrun_usd"] > 0
    assert row["cost_usd"] == pytest.approx(row["reserved_usd"] + row["budget_overrun_usd"])
    assert json.dumps(row["output_tokens"]) == "1004"
