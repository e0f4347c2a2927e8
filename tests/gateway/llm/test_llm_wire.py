"""The LLM request as vLLM reads it: every shape that sets how much is generated, and the forwarded body.

The expectations follow vLLM's request models (chat_completion/protocol.py, completion/protocol.py): lax
pydantic coercion, `n` choices per prompt, completions' default of 16 tokens, chat's
`max_completion_tokens` over `max_tokens`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.errors import InvalidRequest
from gateway.llm.fields import FieldPolicy
from gateway.llm.wire import Limits, LLMRequest, parse_llm_request

POLICY = FieldPolicy()
LIMITS = Limits(max_tokens_cap=4096, max_n=16, max_prompts=128)


def _chat(**fields: Any) -> bytes:
    return json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}).encode()


def _completion(**fields: Any) -> bytes:
    return json.dumps({"model": "m", **fields}).encode()


def parse(raw: bytes, op: str = "chat", policy: FieldPolicy = POLICY) -> LLMRequest:
    return parse_llm_request(raw, op, policy, LIMITS)  # type: ignore[arg-type]


def sent(req: LLMRequest) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(req.upstream_body())
    return body


def test_a_canonical_chat_body_is_forwarded_byte_for_byte() -> None:
    raw = _chat(max_tokens=5, max_completion_tokens=5)
    req = parse(raw)
    assert (req.model, req.stream, req.max_tokens, req.sequences, req.output_bound) == ("m", False, 5, 1, 5)
    assert req.upstream_body() is raw


def test_chat_max_completion_tokens_wins_and_both_fields_carry_the_limit() -> None:
    req = parse(_chat(max_tokens=900, max_completion_tokens=9, n=3))
    assert (req.max_tokens, req.sequences, req.output_bound) == (9, 3, 27)
    assert (sent(req)["max_completion_tokens"], sent(req)["max_tokens"]) == (9, 9)


def test_chat_without_a_limit_gets_the_cap_written_into_the_body() -> None:
    for raw in (_chat(), _chat(max_tokens=None, max_completion_tokens=None)):
        req = parse(raw)
        assert req.max_tokens == 4096
        assert (sent(req)["max_tokens"], sent(req)["max_completion_tokens"]) == (4096, 4096)


def test_completions_default_to_16_tokens_and_an_explicit_null_too() -> None:
    # vLLM's CompletionRequest.normalize_null_max_tokens turns null into the field default
    for raw in (_completion(prompt="once"), _completion(prompt="once", max_tokens=None)):
        req = parse(raw, "text_completion")
        assert req.max_tokens == 16 and sent(req)["max_tokens"] == 16


def test_completions_refuse_max_completion_tokens_which_vllm_ignores_there() -> None:
    with pytest.raises(InvalidRequest) as info:
        parse(_completion(prompt="x", max_completion_tokens=5), "text_completion")
    assert info.value.param == "max_completion_tokens" and "max_tokens" in info.value.message


@pytest.mark.parametrize(
    ("prompt", "prompts"),
    [
        ("one", 1),
        (["a", "b", "c"], 3),
        ([1, 2, 3, 4], 1),  # token ids: one prompt
        ([[1, 2], [3], [4, 5, 6]], 3),
        (["a"] * 128, 128),
    ],
)
def test_every_prompt_gets_its_own_n_choices(prompt: Any, prompts: int) -> None:
    req = parse(_completion(prompt=prompt, n=2, max_tokens=10), "text_completion")
    assert req.sequences == prompts * 2 and req.output_bound == prompts * 2 * 10


def test_best_of_generates_more_than_n_and_is_reserved_for() -> None:
    req = parse(_completion(prompt=["a", "b"], n=2, best_of=5, max_tokens=10), "text_completion")
    assert req.sequences == 2 * 5


@pytest.mark.parametrize(
    ("fields", "canonical"),
    [
        ({"n": "8"}, {"n": 8}),
        ({"n": 8.0}, {"n": 8}),
        (
            {"max_tokens": "12", "max_completion_tokens": None},
            {"max_tokens": 12, "max_completion_tokens": 12},
        ),
        ({"max_completion_tokens": " 7 "}, {"max_completion_tokens": 7, "max_tokens": 7}),
        ({"max_tokens": "1_000"}, {"max_tokens": 1000}),
        ({"stream": "true"}, {"stream": True}),
        ({"n": None}, {"n": 1}),  # chat's `n: int | None = 1`
    ],
)
def test_numbers_are_coerced_as_vllm_coerces_them_and_forwarded_canonical(
    fields: dict[str, Any], canonical: dict[str, Any]
) -> None:
    req = parse(_chat(**fields))
    body = sent(req)
    for name, value in canonical.items():
        assert body[name] == value and type(body[name]) is type(value)
    n = canonical.get("n", 1)
    assert req.sequences == n and req.output_bound == n * req.max_tokens


def test_token_ids_sent_as_floats_are_coerced_like_vllm_does() -> None:
    req = parse(_completion(prompt=[1.0, 2.0, 3.0], max_tokens=4), "text_completion")
    assert sent(req)["prompt"] == [1, 2, 3] and req.sequences == 1


def test_a_stream_always_asks_the_upstream_for_usage() -> None:
    req = parse(_chat(stream=True, max_tokens=5, max_completion_tokens=5))
    assert not req.client_wants_usage and sent(req)["stream_options"] == {"include_usage": True}
    req = parse(_chat(stream=True, stream_options={"include_usage": True}, max_tokens=5))
    assert req.client_wants_usage
    # stream_options present without include_usage: vLLM's StreamOptions defaults it to false
    req = parse(_chat(stream=True, stream_options={}))
    assert not req.client_wants_usage and sent(req)["stream_options"] == {"include_usage": True}


def test_gateway_fields_are_written_into_the_forwarded_body() -> None:
    raw = _chat(max_tokens=5, max_completion_tokens=5)
    req = parse(raw)
    assert json.loads(req.upstream_body(cache_salt="s" * 43))["cache_salt"] == "s" * 43
    assert req.upstream_body(cache_salt=None) is raw


@pytest.mark.parametrize(
    ("body", "op", "param"),
    [
        (b"{nope", "chat", "body"),
        (b"[1]", "chat", "body"),
        (b'{"model": "m", "model": "n", "messages": []}', "chat", "model"),
        ("{}".encode("utf-16"), "chat", "body"),
        (b"[" * 5000 + b"]" * 5000, "chat", "body"),
        (json.dumps({"messages": [{"role": "user", "content": "x"}]}).encode(), "chat", "model"),
        (json.dumps({"model": "m", "messages": []}).encode(), "chat", "messages"),
        (json.dumps({"model": "m", "messages": [{"content": "x"}]}).encode(), "chat", "messages[0]"),
        (
            json.dumps({"model": "m", "messages": [{"role": "user", "content": 5}]}).encode(),
            "chat",
            "messages[0].content",
        ),
        (_chat(messages=[{"role": "user", "content": "x"}] * 3000), "chat", "messages"),
        (json.dumps({"model": "m"}).encode(), "text_completion", "prompt"),
        (_completion(prompt=[1.5]), "text_completion", "prompt"),
        (_completion(prompt=[1, "a"]), "text_completion", "prompt"),
        (_completion(prompt=[]), "text_completion", "prompt"),
        (_completion(prompt=""), "text_completion", "prompt"),
        (_completion(prompt=[[1], []]), "text_completion", "prompt[1]"),
        (_completion(prompt=["a"] * 129), "text_completion", "prompt"),
        (_completion(prompt="x", n=None), "text_completion", "n"),  # completions' `n: int = 1`
        (_chat(stream="maybe"), "chat", "stream"),
        (_chat(max_tokens=0), "chat", "max_tokens"),
        (_chat(max_completion_tokens=-1), "chat", "max_completion_tokens"),
        (_chat(max_tokens=8.5), "chat", "max_tokens"),
        (_chat(max_tokens=5000), "chat", "max_tokens"),
        (_chat(n=17), "chat", "n"),
        (_chat(n=0), "chat", "n"),
        (_chat(n=[2]), "chat", "n"),
        (_chat(stop=["a"] * 17), "chat", "stop"),
        (_chat(stop=[1]), "chat", "stop"),
        (_chat(stream_options={"include_usage": True}), "chat", "stream_options"),
        (_chat(request_id="mine"), "chat", "request_id"),
        (
            _chat(chat_template="{% for i in range(9999) %}{{ messages }}{% endfor %}"),
            "chat",
            "chat_template",
        ),
        (_chat(prompt_embeds="AAAA"), "chat", "prompt_embeds"),
        (_completion(prompt="x", logits_processors=["evil.module"]), "text_completion", "logits_processors"),
    ],
)
def test_bad_requests_name_the_field(body: bytes, op: str, param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse(body, op)
    assert info.value.param == param and info.value.http_status == 400


def test_vllm_extensions_on_the_allow_list_pass_and_operators_can_add_more() -> None:
    req = parse(_chat(top_k=5, min_p=0.1, chat_template_kwargs={"enable_thinking": False}, max_tokens=3))
    assert sent(req)["top_k"] == 5
    with pytest.raises(InvalidRequest):
        parse(_chat(priority=-10))
    assert sent(parse(_chat(priority=-10), policy=FieldPolicy(["priority"])))["priority"] == -10


def test_deep_but_bracket_poor_bodies_take_the_fast_path_and_deep_ones_are_refused() -> None:
    nested: Any = "x"
    for _ in range(40):
        nested = {"a": nested}
    with pytest.raises(InvalidRequest, match="nested deeper"):
        parse(_chat(metadata=nested))
    shallow = parse(_chat(metadata={"a": {"b": [1, 2, {"c": 3}]}}, max_tokens=2))
    assert shallow.model == "m"
