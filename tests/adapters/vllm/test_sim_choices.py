"""Several prompts and `n` choices over the wire, streamed and not, with the official `openai` SDK and
raw SSE; the overreport fault. Chunk order and `index` numbering follow vLLM's serving code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from adapters.vllm.sim import SimConfig, SimServer
from adapters.vllm.sim.tokens import count_tokens

pytestmark = pytest.mark.integration

MODEL = "sim-llama-3-8b"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(SimConfig(ttft_ms=1, itl_ms=0.2, jitter=0.0, tokens=5, max_model_len=256)) as server:
        yield server


@pytest.fixture
def http(sim: SimServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, timeout=10) as client:
        yield client
        client.post("/admin/faults", json={"overreport_tokens": 0}).raise_for_status()


@pytest.fixture
def client(sim: SimServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=sim.base_url + "/v1", api_key="unused", max_retries=0) as c:
        yield c


def _events(http: httpx.Client, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    with http.stream("POST", path, json=body) as resp:
        assert resp.status_code == 200
        raw = resp.read().decode()
    frames = raw.split("\n\n")
    assert frames[-2:] == ["data: [DONE]", ""]
    return [json.loads(f.removeprefix("data: ")) for f in frames[:-2]]


def test_completions_generate_n_choices_for_each_prompt(http: httpx.Client) -> None:
    body = {"prompt": ["alpha beta", "gamma", "t7 t8 t9"], "n": "2", "max_tokens": 4}
    resp = http.post("/v1/completions", json=body).json()
    choices = resp["choices"]
    # vLLM numbers them prompt-major: index = prompt * n + choice.
    assert [c["index"] for c in choices] == list(range(6))
    assert [c["text"] for c in choices] == [
        "alpha beta alpha beta",
        "alpha beta alpha beta",
        "gamma gamma gamma gamma",
        "gamma gamma gamma gamma",
        "t7 t8 t9 t7",
        "t7 t8 t9 t7",
    ]
    assert [c["finish_reason"] for c in choices] == ["length"] * 6
    assert resp["usage"] == {"prompt_tokens": 2 + 1 + 3, "total_tokens": 6 + 24, "completion_tokens": 24}
    # Text and token-id prompts cannot be mixed in one list (no member of vLLM's union takes it).
    mixed = http.post("/v1/completions", json={"prompt": ["a", [1, 2]]})
    assert (mixed.status_code, mixed.json()["error"]["param"]) == (400, "body.prompt.0")


def test_completions_stream_interleaves_choices_like_a_batch(http: httpx.Client) -> None:
    body = {
        "prompt": [[1, 2], [24, 25, 26]],
        "n": 2,
        "max_tokens": 3,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    events = _events(http, "/v1/completions", body)
    *chunks, usage = events
    assert all(len(c["choices"]) == 1 for c in chunks)  # one choice per chunk, as vLLM sends them
    indexes = [c["choices"][0]["index"] for c in chunks]
    assert indexes == [0, 1, 2, 3] * 3  # one decode step at a time, every sequence in index order
    texts: dict[int, str] = {}
    for chunk in chunks:
        choice = chunk["choices"][0]
        texts[choice["index"]] = texts.get(choice["index"], "") + choice["text"]
    assert texts == {0: "t1 t2 t1", 1: "t1 t2 t1", 2: "t24 t25 t26", 3: "t24 t25 t26"}
    finishes = [(c["choices"][0]["index"], c["choices"][0]["finish_reason"]) for c in chunks[-4:]]
    assert finishes == [(0, "length"), (1, "length"), (2, "length"), (3, "length")]
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-4])
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 2 + 3, "total_tokens": 5 + 12, "completion_tokens": 12}
    assert {e["id"] for e in events} == {events[0]["id"]}


def test_chat_stream_with_n_opens_every_choice_with_its_role(http: httpx.Client) -> None:
    body = {
        "messages": [{"role": "user", "content": "one two"}],
        "n": 3,
        "max_completion_tokens": 2,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    *chunks, usage = _events(http, "/v1/chat/completions", body)
    roles = chunks[:3]
    assert [(c["choices"][0]["index"], c["choices"][0]["delta"]) for c in roles] == [
        (i, {"role": "assistant", "content": ""}) for i in range(3)
    ]
    tokens = chunks[3:]
    assert [c["choices"][0]["index"] for c in tokens] == [0, 1, 2, 0, 1, 2]
    assert [c["choices"][0]["delta"]["content"] for c in tokens] == ["one"] * 3 + [" two"] * 3
    assert [c["choices"][0]["finish_reason"] for c in tokens] == [None] * 3 + ["length"] * 3
    assert usage["usage"] == {"prompt_tokens": 2 + 4, "total_tokens": 12, "completion_tokens": 6}


def test_sdk_parses_several_prompts_times_n(client: openai.OpenAI) -> None:
    resp = client.completions.create(model=MODEL, prompt=["a b c", "d e"], n=3, max_tokens=2)
    assert [c.index for c in resp.choices] == list(range(6))
    assert [c.text for c in resp.choices] == ["a b"] * 3 + ["d e"] * 3
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (5, 12)
    tokens = client.completions.create(model=MODEL, prompt=[3, 1, 4], max_tokens=10)
    assert tokens.choices[0].text == "t3 t1 t4 t3 t1"
    assert tokens.usage is not None and tokens.usage.prompt_tokens == 3


def test_sdk_streams_several_choices(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "red green blue"}],
        n=2,
        max_tokens=4,
        stream=True,
        stream_options={"include_usage": True},
    )
    texts = ["", ""]
    finish: dict[int, str | None] = {}
    usage = None
    for chunk in stream:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                finish[choice.index] = choice.finish_reason
        usage = chunk.usage or usage
    assert texts == ["red green blue red"] * 2
    assert finish == {0: "length", 1: "length"}
    assert usage is not None and usage.completion_tokens == 8
    resp = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "red green blue"}], n=2, max_tokens=4
    )
    assert [c.message.content for c in resp.choices] == texts
    assert [c.index for c in resp.choices] == [0, 1]


def test_chat_without_a_limit_generates_its_whole_answer(http: httpx.Client) -> None:
    resp = http.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "a b c"}]})
    choice = resp.json()["choices"][0]
    assert (choice["message"]["content"], choice["finish_reason"]) == ("a b c a b", "stop")


def test_lax_values_over_the_wire(http: httpx.Client) -> None:
    resp = http.post("/v1/completions", json={"prompt": [1.0, 2.0], "n": 2.0, "max_tokens": "3"}).json()
    assert [c["text"] for c in resp["choices"]] == ["t1 t2 t1"] * 2
    bad = http.post("/v1/completions", json={"prompt": "x", "n": 2.5})
    assert bad.status_code == 400
    error = bad.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("Bad Request", "body.n", 400)


@pytest.mark.parametrize("stream", [False, True])
def test_overreport_fault_inflates_reported_usage(http: httpx.Client, stream: bool) -> None:
    body: dict[str, Any] = {"prompt": ["a b", "c"], "n": 2, "max_tokens": 3}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    http.post("/admin/faults", json={"overreport_tokens": 7}).raise_for_status()
    if stream:
        events = _events(http, "/v1/completions", body)
        usage = events[-1]["usage"]
        generated = sum(count_tokens(e["choices"][0]["text"]) for e in events[:-1] if e["choices"])
    else:
        resp = http.post("/v1/completions", json=body).json()
        usage = resp["usage"]
        generated = sum(count_tokens(c["text"]) for c in resp["choices"])
    assert generated == 4 * 3  # what was generated stays within the limit...
    assert usage["completion_tokens"] == generated + 7  # ...what is reported is not
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert http.get("/admin/faults").json()["overreport_tokens"] == 7
    bad = http.post("/admin/faults", json={"overreport_tokens": -1})
    assert bad.status_code == 400 and "overreport_tokens" in bad.json()["error"]["message"]
    assert http.post("/admin/faults", json={"overreport_tokens": 1.5}).status_code == 400


def test_ignore_eos_and_min_tokens_change_how_much_is_generated(http: httpx.Client) -> None:
    def completion(**fields: Any) -> dict[str, Any]:
        resp = http.post("/v1/completions", json={"prompt": "a b", **fields})
        assert resp.status_code == 200, resp.text
        return resp.json()

    # The echo answer is 5 tokens; ignore_eos generates to the limit, min_tokens at least that many.
    assert completion(max_tokens=9)["usage"]["completion_tokens"] == 5
    full = completion(max_tokens=9, ignore_eos=True)
    assert (full["usage"]["completion_tokens"], full["choices"][0]["finish_reason"]) == (9, "length")
    assert full["choices"][0]["text"] == "a b a b a b a b a"
    least = completion(max_tokens=9, min_tokens=7)
    assert (least["usage"]["completion_tokens"], least["choices"][0]["finish_reason"]) == (7, "stop")
    assert completion(ignore_eos=True)["usage"]["completion_tokens"] == 16  # the default limit


@pytest.mark.parametrize("stream", [False, True])
def test_echo_puts_the_prompt_before_each_choice(http: httpx.Client, stream: bool) -> None:
    body: dict[str, Any] = {"prompt": [[4], [5, 6]], "n": 2, "max_tokens": 2, "echo": True}
    zero: dict[str, Any] = {**body, "max_tokens": 0}
    if not stream:
        resp = http.post("/v1/completions", json=body).json()
        assert [c["text"] for c in resp["choices"]] == [" t4t4 t4"] * 2 + [" t5 t6t5 t6"] * 2
        only = http.post("/v1/completions", json=zero).json()
        assert [c["text"] for c in only["choices"]] == [" t4"] * 2 + [" t5 t6"] * 2
    else:
        extra = {"stream": True, "stream_options": {"include_usage": True}}
        *chunks, usage = _events(http, "/v1/completions", {**body, **extra})
        assert [c["choices"][0]["text"] for c in chunks[:4]] == [" t4t4", " t4t4", " t5 t6t5", " t5 t6t5"]
        *only_chunks, only = _events(http, "/v1/completions", {**zero, **extra})
        assert [c["choices"][0]["text"] for c in only_chunks] == [" t4", " t4", " t5 t6", " t5 t6"]
        assert [c["choices"][0]["finish_reason"] for c in only_chunks] == ["length"] * 4
    # The prompt is not billed as output; with max_tokens 0 each choice's one engine token is.
    assert (usage if stream else resp)["usage"]["completion_tokens"] == 8
    assert only["usage"]["completion_tokens"] == 4
