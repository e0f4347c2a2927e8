"""Request parsing for `/v1/chat/completions` and `/v1/completions`, as vLLM's OpenAI server reads them.

Matched against vLLM's request models and serving code (docs/vllm-sim.md names the files and
commits): every shape vLLM accepts is accepted and generated for. Numbers and booleans are coerced
laxly as pydantic does (`fields`); the serving-time checks are vLLM's (`limits`). Errors are `ApiError`s,
rendered by the app as vLLM's error body; a model that is not served is a 404 `NotFoundError`.

- completions: `prompt` is a string, a list of strings, a list of token ids or a list of token-id
  lists; `n` choices are generated for **each** prompt; `max_tokens` defaults to 16 (also when sent as
  null); `max_completion_tokens` and `best_of` are not completions fields (ignored, as vLLM ignores
  extra fields);
- chat: `max_completion_tokens` wins over the deprecated `max_tokens`; with neither, the limit is the
  rest of the context window; `n: null` means 1.

    req = parse_chat(b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}', "m", 8192)
    req.prompt_text, req.n, req.prompts[0].limit  # ('hi', 1, 8187)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from adapters.vllm.sim.errors import ApiError, validation_error
from adapters.vllm.sim.fields import (
    lax_bool,
    lax_cache_salt,
    lax_float,
    lax_int,
    lax_prompt,
    lax_seed,
    lax_stream_options,
    model_validator_error,
)
from adapters.vllm.sim.limits import (
    check_output_limit,
    check_prompt_length,
    check_sampling,
    generation_limit,
)
from adapters.vllm.sim.tokens import CHAT_MESSAGE_OVERHEAD, id_pieces, split_tokens

__all__ = [
    "MAX_COMPLETION_PROMPTS",
    "ApiError",
    "GenerationRequest",
    "Prompt",
    "parse_chat",
    "parse_completion",
    "parse_json_object",
]

# VLLM_MAX_COMPLETION_PROMPTS' default: the most prompts one completions request may carry.
MAX_COMPLETION_PROMPTS = 1024
_CACHE_SALT_MAX = 128
_CACHE_SALT_FORBIDDEN = frozenset("@/\\\x00")

_decode = json.JSONDecoder().decode


@dataclass(slots=True)
class Prompt:
    """One prompt of a request, with the number of tokens each of its choices may generate."""

    # The answers are looked up by this: the last user message of a chat, or the completion prompt.
    text: str
    # `text` split by the simulator's tokenizer (the echo answer is made from it).
    pieces: list[str]
    tokens: int
    # vLLM's `get_max_tokens`: the request's limit, capped by the rest of the context window.
    limit: int
    # Completions with `echo`: the prompt as text, put before each choice's text ("" otherwise).
    echo_text: str = ""
    # `echo` with `max_tokens: 0`: the choices show only the prompt, yet vLLM generates (and bills) one
    # token for each (`SamplingParams(max_tokens=1)`).
    echo_only: bool = False


@dataclass(slots=True)
class GenerationRequest:
    """What the simulator needs from a validated request."""

    chat: bool
    model: str
    prompts: list[Prompt]
    # Choices per prompt.
    n: int
    # The limit as the request set it, after vLLM's defaults (None: the rest of the context window).
    max_tokens: int | None
    stream: bool
    include_usage: bool
    seed: int | None
    # Generate up to the limit whatever the answer (vLLM's `ignore_eos`).
    ignore_eos: bool = False
    # Generate at least this many tokens before the answer may stop.
    min_tokens: int = 0

    @property
    def prompt_tokens(self) -> int:
        return sum(p.tokens for p in self.prompts)

    @property
    def prompt_text(self) -> str:
        return self.prompts[0].text

    @property
    def prompt_pieces(self) -> list[str]:
        return self.prompts[0].pieces

    @property
    def choices(self) -> int:
        return self.n * len(self.prompts)


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a 400."""
    try:
        data = _decode(body.decode())
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both are
        raise ApiError(400, f"Request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "Request body must be a JSON object")
    return data


@dataclass(slots=True)
class _Common:
    stream: bool
    include_usage: bool
    seed: int | None
    temperature: float | None
    top_p: float | None
    ignore_eos: bool
    min_tokens: int


def _common(data: dict[str, Any]) -> _Common:
    """Fields both endpoints share, after their `mode="before"` model validators."""
    if data.get("stream_options") and not data.get("stream"):
        raise model_validator_error(
            "Stream options can only be defined when `stream=True`.", "stream_options"
        )
    salt = data.get("cache_salt")
    if salt is not None:
        _check_cache_salt(salt)
        lax_cache_salt(salt)
    stream = bool(lax_bool(data.get("stream"), "stream"))
    options, seed, temperature, top_p = (data.get(k) for k in _OPTIONAL)
    return _Common(
        stream=stream,
        include_usage=False if options is None else lax_stream_options(options),
        seed=None if seed is None else lax_seed(seed),
        temperature=None if temperature is None else lax_float(temperature, "temperature"),
        top_p=None if top_p is None else lax_float(top_p, "top_p"),
        # `ignore_eos: bool = False`, `min_tokens: int = 0`: not nullable.
        ignore_eos="ignore_eos" in data and bool(_lax_required(data, "ignore_eos", lax_bool, False)),
        min_tokens=int(_lax_required(data, "min_tokens", lax_int, 0)) if "min_tokens" in data else 0,
    )


_OPTIONAL = ("stream_options", "seed", "temperature", "top_p")


def _lax_required(data: dict[str, Any], name: str, lax: Any, default: object) -> Any:
    """A field with a default that may not be sent as null (`bool = False`, `int = 0`)."""
    if name not in data:
        return default
    if data[name] is None:
        kind = "bool" if isinstance(default, bool) else "int"
        msg = "Input should be a valid boolean" if kind == "bool" else "Input should be a valid integer"
        detail = {"type": f"{kind}_type", "loc": ("body", name), "msg": msg, "input": None}
        raise validation_error([detail], f"body.{name}")
    return lax(data[name], name)


def _check_cache_salt(salt: object) -> None:
    """vLLM's `validate_cache_salt` (a model validator, so it runs before the field's own checks)."""
    if salt is None:
        return
    if not isinstance(salt, str) or not salt:
        raise model_validator_error(
            "Parameter 'cache_salt' must be a non-empty string if provided.", "cache_salt"
        )
    if len(salt) > _CACHE_SALT_MAX or any(c in _CACHE_SALT_FORBIDDEN for c in salt):
        raise model_validator_error(
            "Parameter 'cache_salt' must be at most 128 characters and must not contain "
            "'@', '/', '\\\\', or NUL.",
            "cache_salt",
        )


def _model(data: dict[str, Any], served_model: str) -> str:
    model = data.get("model")
    # Like vLLM, a request without a model goes to the served one.
    if model is None or model == "":
        return served_model
    if not isinstance(model, str):
        detail = {"type": "string_type", "loc": ("body", "model"), "msg": "Input should be a valid string"}
        raise validation_error([{**detail, "input": model}], "body.model")
    if model != served_model:
        raise ApiError(404, f"The model `{model}` does not exist.", "NotFoundError", "model")
    return served_model


# (answer key, pieces, prompt tokens, the prompt as echoed text)
_Source = tuple[str, list[str], int, str]


def _finish(
    chat: bool,
    model: str,
    sources: list[_Source],
    n: int,
    requested: int | None,
    param: str,
    common: _Common,
    max_model_len: int,
    echo: bool = False,
) -> GenerationRequest:
    # vLLM's order: the output limit once, every prompt's length, then per prompt the sampling checks.
    check_output_limit(requested, param, max_model_len)
    for source in sources:
        check_prompt_length(source[2], requested, max_model_len)
    echo_only = echo and requested == 0
    prompts = []
    for text, pieces, tokens, as_text in sources:
        limit = 1 if echo_only else generation_limit(tokens, requested, max_model_len)
        check_sampling(n, common.temperature, common.top_p, limit, common.min_tokens)
        prompts.append(Prompt(text, pieces, tokens, limit, as_text if echo else "", echo_only))
    return GenerationRequest(
        chat=chat,
        model=model,
        prompts=prompts,
        n=n,
        max_tokens=requested,
        stream=common.stream,
        include_usage=common.include_usage,
        seed=common.seed,
        ignore_eos=common.ignore_eos,
        min_tokens=common.min_tokens,
    )


def parse_chat(body: bytes, served_model: str, max_model_len: int) -> GenerationRequest:
    data = parse_json_object(body)
    common = _common(data)
    max_tokens = lax_int(data.get("max_tokens"), "max_tokens")
    max_completion_tokens = lax_int(data.get("max_completion_tokens"), "max_completion_tokens")
    n = lax_int(data.get("n", 1), "n")  # `n: int | None = 1`: null means 1
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty list", param="messages")
    # Prompt tokens as `tokens.chat_prompt_tokens` counts them, keeping the last user message's pieces.
    prompt_tokens = CHAT_MESSAGE_OVERHEAD * len(messages)
    last_user: tuple[str, list[str]] | None = None
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ApiError(400, f"messages[{i}] must be an object with a string 'role'", param="messages")
        text = _content_text(message.get("content"), i)
        pieces = split_tokens(text)
        prompt_tokens += len(pieces)
        if message["role"] == "user" or (last_user is None and i == len(messages) - 1):
            last_user = (text, pieces)
    assert last_user is not None  # messages is non-empty, so the last one was taken at least
    model = _model(data, served_model)
    requested: int | None = max_tokens
    param = "max_tokens"
    if max_completion_tokens is not None:
        requested, param = max_completion_tokens, "max_completion_tokens"
    source = (last_user[0], last_user[1], prompt_tokens, "")
    return _finish(True, model, [source], 1 if n is None else n, requested, param, common, max_model_len)


def parse_completion(body: bytes, served_model: str, max_model_len: int) -> GenerationRequest:
    data = parse_json_object(body)
    raw_prompt = data.get("prompt")
    # The model validators, last-defined first as pydantic runs `mode="before"` validators.
    if (
        isinstance(raw_prompt, list)
        and raw_prompt
        and not isinstance(raw_prompt[0], int)  # vLLM's is_list_of(prompt, int) looks at the first item
        and len(raw_prompt) > MAX_COMPLETION_PROMPTS
    ):
        raise model_validator_error(
            f"prompt list length {len(raw_prompt)} exceeds the maximum allowed count of "
            f"{MAX_COMPLETION_PROMPTS}. To increase this limit, set the VLLM_MAX_COMPLETION_PROMPTS "
            "environment variable.",
            "prompt",
        )
    if data.get("prompt_embeds") not in (None, []):
        raise ApiError(400, "You must set `--enable-prompt-embeds` to input `prompt_embeds`.")
    if raw_prompt is None or raw_prompt == "":
        raise model_validator_error(
            "Either prompt or prompt_embeds must be provided and non-empty.", "prompt"
        )
    common = _common(data)
    # `normalize_null_max_tokens`: an explicit null is the field's default, 16.
    max_tokens = 16 if data.get("max_tokens") is None else lax_int(data["max_tokens"], "max_tokens")
    n = lax_int(data.get("n", 1), "n", nullable=False)  # `n: int = 1`: null is a 400
    prompt = lax_prompt(raw_prompt)
    model = _model(data, served_model)
    assert n is not None and prompt is not None
    echo = bool(lax_bool(data.get("echo"), "echo"))
    sources = _completion_sources(prompt)
    return _finish(False, model, sources, n, max_tokens, "max_tokens", common, max_model_len, echo)


def _completion_sources(prompt: str | list[str] | list[int] | list[list[int]]) -> list[_Source]:
    """Each prompt of a completions request, as a `_Source`."""
    if isinstance(prompt, str):
        pieces = split_tokens(prompt)
        return [(prompt, pieces, len(pieces), prompt)]
    if not prompt:
        raise ApiError(400, "please provide at least one prompt")
    if isinstance(prompt[0], int):
        batch: list[Any] = [prompt]
    else:
        batch = prompt
    sources = []
    for item in batch:
        if isinstance(item, str):
            pieces = split_tokens(item)
            sources.append((item, pieces, len(pieces), item))
        else:
            if not item:
                raise ApiError(400, "The decoder prompt cannot be empty")
            pieces = id_pieces(item)
            text = "".join(pieces)
            sources.append((text.strip(), pieces, len(item), text))
    return sources


def _content_text(content: Any, index: int) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if (
                not isinstance(part, dict)
                or part.get("type") != "text"
                or not isinstance(part.get("text"), str)
            ):
                raise ApiError(
                    400,
                    f"messages[{index}].content: this model takes only text parts",
                    param="messages",
                )
            parts.append(part["text"])
        return "\n".join(parts)
    raise ApiError(400, f"messages[{index}].content must be a string or a list of parts", param="messages")
