"""Property tests (hypothesis): the simulator's fast paths read values exactly as pydantic does, and for
generated request bodies the running simulator generates `n` choices per prompt within each limit and
reports usage that adds up, streamed or not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from adapters.vllm.sim import SimConfig, SimServer
from adapters.vllm.sim.errors import ApiError
from adapters.vllm.sim.fields import _PROMPT, lax_bool, lax_int, lax_prompt
from adapters.vllm.sim.tokens import count_tokens

ECHO_TOKENS = 5
MAX_LEN = 256

# JSON-ish values of the kinds a client sends, with the awkward ones pydantic coerces.
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["3", " 4 ", "5.0", "5.5", "-1", "true", "off", "x", "", "1e3"]),
    st.text(max_size=5),
)
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=12)


def _outcome(fn: Any, value: object) -> tuple[str, object]:
    try:
        return "ok", fn(value)
    except (ApiError, ValidationError):
        return "error", None


@settings(max_examples=400, deadline=None)
@given(_values)
def test_prompt_fast_path_matches_pydantic(value: object) -> None:
    assert _outcome(lax_prompt, value) == _outcome(_PROMPT.validate_python, value)


_OPT_INT: TypeAdapter[int | None] = TypeAdapter(int | None)
_OPT_BOOL: TypeAdapter[bool | None] = TypeAdapter(bool | None)


@settings(max_examples=300, deadline=None)
@given(_scalars)
def test_int_and_bool_fast_paths_match_pydantic(value: object) -> None:
    assert _outcome(lambda v: lax_int(v, "n"), value) == _outcome(_OPT_INT.validate_python, value)
    assert _outcome(lambda v: lax_bool(v, "stream"), value) == _outcome(_OPT_BOOL.validate_python, value)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    config = SimConfig(ttft_ms=0, itl_ms=0, jitter=0.0, tokens=ECHO_TOKENS, max_model_len=MAX_LEN)
    with SimServer(config) as sim, httpx.Client(base_url=sim.base_url, timeout=10) as client:
        yield client


_words = st.lists(st.sampled_from(["alpha", "beta", "gamma", "delta"]), min_size=1, max_size=6).map(" ".join)
_ids = st.lists(st.integers(min_value=0, max_value=50_000), min_size=1, max_size=6)
# (the prompt as sent, the prompt tokens of each of its prompts)
_prompts = st.one_of(
    _words.map(lambda w: (w, [count_tokens(w)])),
    st.lists(_words, min_size=1, max_size=4).map(lambda ws: (ws, [count_tokens(w) for w in ws])),
    _ids.map(lambda ids: (ids, [len(ids)])),
    _ids.map(lambda ids: ([float(i) for i in ids], [len(ids)])),  # floats pydantic reads as ids
    st.lists(_ids, min_size=1, max_size=4).map(lambda batch: (batch, [len(i) for i in batch])),
)


def _lax(value: int) -> st.SearchStrategy[object]:
    """`value` as a client might send it: an int, a numeric string, or a float with no fraction."""
    return st.sampled_from([value, str(value), float(value)])


@st.composite
def _completion_bodies(draw: st.DrawFn) -> tuple[dict[str, Any], list[int], int, int, int]:
    prompt, prompt_tokens = draw(_prompts)
    n = draw(st.integers(min_value=1, max_value=3))
    body: dict[str, Any] = {"prompt": prompt, "n": draw(_lax(n))}
    limit = 16
    mode = draw(st.sampled_from(["missing", "null", "set"]))
    if mode == "null":
        body["max_tokens"] = None
    elif mode == "set":
        limit = draw(st.integers(min_value=1, max_value=12))
        body["max_tokens"] = draw(_lax(limit))
    if draw(st.booleans()):
        body["max_completion_tokens"] = 1  # not a completions field: must not change anything
    # Tokens each choice generates: the echo answer's, all of the limit with ignore_eos.
    each = min(ECHO_TOKENS, limit)
    if draw(st.booleans()):
        body["ignore_eos"] = True
        each = limit
    return body, prompt_tokens, n, limit, each


def _generate(
    http: httpx.Client, path: str, body: dict[str, Any], stream: bool
) -> tuple[list[str], dict[str, int]]:
    """(each choice's text by index, usage) from a JSON or an SSE response."""
    if not stream:
        resp = http.post(path, json=body)
        assert resp.status_code == 200, resp.text
        data = resp.json()
        assert [c["index"] for c in data["choices"]] == list(range(len(data["choices"])))
        texts = [c["text"] if "text" in c else c["message"]["content"] for c in data["choices"]]
        return texts, data["usage"]
    streamed = {**body, "stream": True, "stream_options": {"include_usage": True}}
    with http.stream("POST", path, json=streamed) as resp:
        assert resp.status_code == 200
        frames = resp.read().decode().split("\n\n")
    assert frames[-2:] == ["data: [DONE]", ""]
    events = [json.loads(f.removeprefix("data: ")) for f in frames[:-2]]
    texts: dict[int, str] = {}
    finished: list[int] = []
    for event in events[:-1]:
        (choice,) = event["choices"]
        assert choice["index"] not in finished  # nothing follows a choice's finish_reason
        piece = choice["text"] if "text" in choice else choice["delta"].get("content", "")
        texts[choice["index"]] = texts.get(choice["index"], "") + piece
        if choice["finish_reason"] is not None:
            finished.append(choice["index"])
    assert sorted(finished) == sorted(texts) == list(range(len(texts)))
    assert events[-1]["choices"] == []
    return [texts[i] for i in range(len(texts))], events[-1]["usage"]


@pytest.mark.integration
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=_completion_bodies(), stream=st.booleans())
def test_completions_generate_within_limits_and_report_it(
    http: httpx.Client, case: tuple[dict[str, Any], list[int], int, int, int], stream: bool
) -> None:
    body, prompt_tokens, n, limit, each = case
    texts, usage = _generate(http, "/v1/completions", body, stream)
    assert len(texts) == len(prompt_tokens) * n
    per_choice = [each for _ in prompt_tokens for _ in range(n)]
    assert [count_tokens(t) for t in texts] == per_choice
    assert usage["prompt_tokens"] == sum(prompt_tokens)
    assert usage["completion_tokens"] == sum(per_choice) <= len(prompt_tokens) * n * limit
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@st.composite
def _chat_bodies(draw: st.DrawFn) -> tuple[dict[str, Any], int, int]:
    words = draw(_words)
    n = draw(st.integers(min_value=1, max_value=3))
    body: dict[str, Any] = {"messages": [{"role": "user", "content": words}]}
    if n > 1 or draw(st.booleans()):
        body["n"] = draw(_lax(n))
    elif draw(st.booleans()):
        body["n"] = None  # null means 1 on chat
    limit = MAX_LEN  # no limit: the rest of the context window
    max_tokens = draw(st.none() | st.integers(min_value=1, max_value=12))
    mct = draw(st.none() | st.integers(min_value=1, max_value=12))
    for name, value in (("max_tokens", max_tokens), ("max_completion_tokens", mct)):
        if value is not None:
            body[name] = draw(_lax(value))
        elif draw(st.booleans()):
            body[name] = None
    if mct is not None:
        limit = mct
    elif max_tokens is not None:
        limit = max_tokens
    return body, n, limit


@pytest.mark.integration
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=_chat_bodies(), stream=st.booleans())
def test_chat_generates_within_limits_and_reports_it(
    http: httpx.Client, case: tuple[dict[str, Any], int, int], stream: bool
) -> None:
    body, n, limit = case
    texts, usage = _generate(http, "/v1/chat/completions", body, stream)
    assert len(texts) == n
    assert [count_tokens(t) for t in texts] == [min(ECHO_TOKENS, limit)] * n
    assert usage["completion_tokens"] == n * min(ECHO_TOKENS, limit)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
