"""Every request shape vLLM's OpenAI server accepts on the generation routes, read as vLLM reads it:
lax coercion, prompt shapes, `n`, both token-limit fields and their defaults, and vLLM's 400s."""

from __future__ import annotations

import json

import pytest

from adapters.vllm.sim.errors import ApiError
from adapters.vllm.sim.wire import GenerationRequest, parse_chat, parse_completion

MAX_LEN = 100


def _completion(**fields: object) -> GenerationRequest:
    return parse_completion(json.dumps({"model": "m", **fields}).encode(), "m", MAX_LEN)


def _chat(**fields: object) -> GenerationRequest:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi there"}], **fields}
    return parse_chat(json.dumps(body).encode(), "m", MAX_LEN)


def _refused(parse: object, **fields: object) -> ApiError:
    with pytest.raises(ApiError) as info:
        parse(**fields)  # type: ignore[operator]
    assert info.value.status == 400
    return info.value


@pytest.mark.parametrize(("sent", "read"), [(3, 3), ("3", 3), (3.0, 3), (" 3 ", 3), ("3.0", 3), (True, 1)])
def test_numbers_are_coerced_as_pydantic_lax_mode_does(sent: object, read: int) -> None:
    assert _completion(prompt="x", n=sent, temperature=1).n == read
    assert _completion(prompt="x", max_tokens=sent).max_tokens == read
    assert _chat(n=sent, temperature=1).n == read
    assert _chat(max_completion_tokens=sent).prompts[0].limit == read
    assert _chat(max_tokens=sent).prompts[0].limit == read
    assert _completion(prompt="x", seed=sent).seed == read


@pytest.mark.parametrize("field", ["n", "max_tokens", "seed"])
@pytest.mark.parametrize("sent", [3.5, "3.5", "three", "1e3", [3], {"n": 3}])
def test_values_pydantic_refuses_are_a_400_naming_the_field(field: str, sent: object) -> None:
    for parse in (_completion, _chat):
        err = _refused(parse, prompt="x", **{field: sent})
        assert (err.err_type, err.param) == ("Bad Request", f"body.{field}")
        assert err.message.startswith("1 validation error:\n  {'type': ")
        assert f"'loc': ('body', '{field}')" in err.message


def test_seed_must_fit_in_64_bits() -> None:
    assert _completion(prompt="x", seed=2**63 - 1).seed == 2**63 - 1
    assert _refused(_completion, prompt="x", seed=2**63).param == "body.seed"


@pytest.mark.parametrize(
    ("prompt", "texts", "tokens"),
    [
        ("one two", ["one two"], [2]),
        (["one two", "three"], ["one two", "three"], [2, 1]),
        ([5, 6, 7], ["t5 t6 t7"], [3]),
        ([5.0, 6.0], ["t5 t6"], [2]),  # floats with no fraction are token ids, as pydantic reads them
        ([5, "6"], ["t5 t6"], [2]),  # so is a numeric string among ints (list[int] comes first)
        (["5", "6"], ["5", "6"], [1, 1]),  # ...but all strings is a list of text prompts
        ([[1, 2], [3]], ["t1 t2", "t3"], [2, 1]),
        ([[1, 2.0], [True]], ["t1 t2", "t1"], [2, 1]),
    ],
)
def test_prompt_shapes(prompt: object, texts: list[str], tokens: list[int]) -> None:
    req = _completion(prompt=prompt)
    assert [p.text for p in req.prompts] == texts
    assert [p.tokens for p in req.prompts] == tokens
    assert req.prompt_tokens == sum(tokens)


@pytest.mark.parametrize(
    ("prompt", "param", "fragment"),
    [
        ("", "prompt", "Either prompt or prompt_embeds must be provided and non-empty."),
        (None, "prompt", "Either prompt or prompt_embeds"),
        ([-1], "body.prompt.0", "greater than or equal to 0"),
        ([1.5], "body.prompt.0", "validation error"),
        ([["a"]], "body.prompt.0", "validation error"),
        ({"text": "x"}, "body.prompt", "validation error"),
        ([], None, "please provide at least one prompt"),
        ([[1], []], None, "The decoder prompt cannot be empty"),
        (["x"] * 1025, "prompt", "prompt list length 1025 exceeds the maximum allowed count of 1024"),
    ],
)
def test_bad_prompts(prompt: object, param: str | None, fragment: str) -> None:
    err = _refused(_completion, prompt=prompt)
    assert err.param == param
    assert fragment in err.message


def test_a_long_list_of_token_ids_is_one_prompt_not_many() -> None:
    # 1499 tokens do not fit a 100-token window: the count check is the context length, not the list one.
    err = _refused(_completion, prompt=list(range(1, 1500)))
    assert err.param == "input_tokens"


def test_completions_limits() -> None:
    assert _completion(prompt="x").max_tokens == 16  # vLLM's (and OpenAI's) default
    assert _completion(prompt="x", max_tokens=None).max_tokens == 16  # normalize_null_max_tokens
    # Not completions fields: ignored like any extra field.
    req = _completion(prompt="x", max_completion_tokens=3, best_of=5)
    assert (req.max_tokens, req.n, req.prompts[0].limit) == (16, 1, 16)
    assert _completion(prompt="x", max_tokens=7).prompts[0].limit == 7
    err = _refused(_completion, prompt="x", n=None)  # `n: int = 1`: null is not an int
    assert err.param == "body.n"


def test_chat_limits() -> None:
    prompt_tokens = _chat().prompt_tokens
    rest = MAX_LEN - prompt_tokens
    assert _chat().prompts[0].limit == rest  # no limit: the rest of the context window
    assert _chat(max_tokens=None, max_completion_tokens=None).prompts[0].limit == rest
    assert _chat(max_tokens=9, max_completion_tokens=4).prompts[0].limit == 4  # the newer field wins
    assert _chat(max_tokens=9, max_completion_tokens=None).prompts[0].limit == 9
    assert _chat(n=None).n == 1  # `n: int | None = 1`
    assert _chat(n=3).choices == 3


def test_n_choices_per_prompt() -> None:
    req = _completion(prompt=["a", "b c"], n=3)
    assert (req.n, len(req.prompts), req.choices) == (3, 2, 6)


@pytest.mark.parametrize(
    ("fields", "message", "param"),
    [
        ({"n": 0}, "n must be at least 1, got 0.", None),
        ({"n": -2}, "n must be at least 1, got -2.", None),
        (
            {"n": 16385},
            "n must be at most 16384, got 16385. To increase this limit, set the VLLM_MAX_N_SEQUENCES "
            "environment variable.",
            None,
        ),
        ({"n": 2, "temperature": 0}, "n must be 1 when using greedy sampling, got 2.", None),
        ({"max_tokens": 0}, "max_tokens must be at least 1, got 0.", "max_tokens"),
        ({"max_tokens": -3}, "max_tokens must be at least 1, got -3.", "max_tokens"),
        ({"temperature": 2.5}, "temperature must be in [0, 2], got 2.5.", "temperature"),
        ({"top_p": 0}, "top_p must be in (0, 1], got 0.0.", "top_p"),
        (
            {"max_tokens": 101},
            "max_tokens=101cannot be greater than max_model_len=max_total_tokens=100. "
            "Please request fewer output tokens.",
            "max_tokens",
        ),
    ],
)
def test_serving_time_checks_use_vllms_words(
    fields: dict[str, object], message: str, param: str | None
) -> None:
    err = _refused(_completion, prompt="x", **fields)
    assert (err.message, err.param, err.err_type) == (message, param, "BadRequestError")


def test_chat_zero_completion_tokens_is_refused_as_sampling_params_does() -> None:
    err = _refused(_chat, max_completion_tokens=0)
    assert (err.message, err.param) == ("max_tokens must be at least 1, got 0.", "max_tokens")
    err = _refused(_chat, max_completion_tokens=200)
    assert err.param == "max_completion_tokens"
    assert err.message.startswith("max_completion_tokens=200cannot be greater than")


def test_context_length_is_checked_for_each_prompt() -> None:
    assert _completion(prompt=["a", "b " * 84], max_tokens=16).prompts[1].tokens == 84
    err = _refused(_completion, prompt=["a", "b " * 85], max_tokens=16)
    assert err.message == (
        "You passed 85 input tokens and requested 16 output tokens. However, the model's context length "
        "is only 100 tokens, resulting in a maximum input length of 84 tokens. Please reduce the length "
        "of the input prompt."
    )
    assert err.param == "input_tokens"
    # Without a limit a chat may fill the window, but then has no room left to generate.
    err = _refused(_chat, messages=[{"role": "user", "content": "w " * 96}])
    assert err.message == "max_tokens must be at least 1, got 0."


@pytest.mark.parametrize(
    ("salt", "fragment"),
    [
        ("", "must be a non-empty string if provided"),
        (5, "must be a non-empty string if provided"),
        ("s" * 129, "must be at most 128 characters"),
        ("a/b", "must not contain '@', '/'"),
        ("a@b", "must not contain"),
    ],
)
def test_cache_salt_is_validated(salt: object, fragment: str) -> None:
    for parse in (_completion, _chat):
        err = _refused(parse, prompt="x", cache_salt=salt)
        assert err.param == "cache_salt"
        assert fragment in err.message
    assert _completion(prompt="x", cache_salt="s" * 128).prompt_tokens == 1


def test_stream_flags() -> None:
    assert _completion(prompt="x", stream="true").stream  # lax bool
    assert not _completion(prompt="x", stream=True, stream_options={}).include_usage  # default False
    assert _completion(prompt="x", stream=1, stream_options={"include_usage": "yes"}).include_usage
    # A falsy stream_options without stream is fine; a non-empty one is vLLM's 400.
    assert not _completion(prompt="x", stream_options={}).stream
    err = _refused(_completion, prompt="x", stream_options={"include_usage": True})
    assert (err.param, err.message.count("Stream options can only be defined when `stream=True`.")) == (
        "stream_options",
        1,
    )
    assert _refused(_completion, prompt="x", stream=True, stream_options=[1]).param == "body.stream_options"


def test_generation_length_fields() -> None:
    req = _completion(prompt="x", ignore_eos="true", min_tokens="2", max_tokens=5)
    assert (req.ignore_eos, req.min_tokens) == (True, 2)
    assert _refused(_completion, prompt="x", ignore_eos=None).param == "body.ignore_eos"
    assert _refused(_chat, min_tokens=None).param == "body.min_tokens"
    err = _refused(_completion, prompt="x", min_tokens=6, max_tokens=5)
    assert err.message == "min_tokens must be less than or equal to max_tokens=5, got 6."
    assert _refused(_chat, min_tokens=-1).message == "min_tokens must be greater than or equal to 0, got -1."


def test_echo_with_zero_max_tokens_still_generates_one_token() -> None:
    # vLLM's to_sampling_params: `echo` and `max_tokens == 0` run the engine with max_tokens=1.
    req = _completion(prompt=["a b", "c"], echo=True, max_tokens=0)
    assert [(p.echo_text, p.echo_only, p.limit) for p in req.prompts] == [("a b", True, 1), ("c", True, 1)]
    ids = _completion(prompt=[[4, 5]], echo=True, max_tokens=0).prompts[0]
    assert (ids.echo_text, ids.tokens) == (" t4 t5", 2)
    assert _refused(_completion, prompt="x", max_tokens=0).message == "max_tokens must be at least 1, got 0."
    assert _completion(prompt="x", echo=True, max_tokens=3).prompts[0].limit == 3
