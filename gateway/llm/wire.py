"""An OpenAI request read as vLLM reads it, reduced to what bounds its cost, and the body sent upstream.

The gateway reserves budget for what the upstream can generate, so it must read every field that sets that
amount exactly as vLLM does, and forward exactly what it reserved for:

- `/v1/completions`: `prompt` is a string, a list of strings, a list of token ids (one prompt) or a list of
  token-id lists; vLLM generates `n` choices (`best_of` where it still takes it) for EACH prompt. Only
  `max_tokens` limits the output, default 16 (an explicit `null` too: `normalize_null_max_tokens`; older
  vLLM read null as "the rest of the context", so the 16 is written into the body either way).
- `/v1/chat/completions`: `max_completion_tokens` wins over the deprecated `max_tokens`; with neither, vLLM
  generates up to the end of the context, so the cap is written into both fields.
- Numbers and booleans are coerced with pydantic's lax rules, as vLLM's pydantic request models coerce
  them (`"n": "8"`, `8.0` and `"1_000"` are integers there); the canonical value is what gets forwarded.

The result: `sequences × max_tokens` output tokens is a true bound on what vLLM can generate, and
`upstream_body()` carries those limits. Matched against vLLM's request models in
`vllm/entrypoints/openai/{chat_completion,completion}/protocol.py` (main, late 2026; docs/budgets.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from gateway.llm.body import LLMInvalidRequest, decode_json_object
from gateway.llm.fields import FieldPolicy
from gateway.tracing.genai import Operation

__all__ = ["LLMInvalidRequest", "LLMRequest", "Limits", "parse_llm_request"]

_INT = TypeAdapter(int)
_BOOL = TypeAdapter(bool)
_PROMPT: TypeAdapter[Any] = TypeAdapter(list[int] | list[list[int]] | str | list[str])
COMPLETIONS_DEFAULT_MAX_TOKENS = 16  # OpenAI's completions default, which vLLM follows
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request may ask for; from `llm.*` settings."""

    max_tokens_cap: int = 4096
    max_n: int = 16
    max_prompts: int = 128
    max_messages: int = 2048
    max_stop: int = 16
    max_depth: int = 32


@dataclass(slots=True)
class LLMRequest:
    operation: Operation
    model: str
    stream: bool
    client_wants_usage: bool  # stream_options.include_usage as the client sent it
    max_tokens: int  # per generated sequence, as forwarded
    sequences: int  # how many sequences vLLM generates: prompts × max(n, best_of)
    payload: dict[str, Any]  # the canonical body (coerced values, limits written in)
    raw: bytes
    changed: bool = False  # payload differs from raw: re-serialise before forwarding

    @property
    def output_bound(self) -> int:
        """The most output tokens vLLM can generate for this request, as forwarded."""
        return self.sequences * self.max_tokens

    def upstream_body(self, **gateway_fields: Any) -> bytes:
        """The body sent upstream: the canonical payload, with usage always asked for on a stream (billing
        never guesses) and any gateway-owned fields (a tenant's `cache_salt`) set."""
        changes: dict[str, Any] = {k: v for k, v in gateway_fields.items() if v is not None}
        if self.stream:
            options = self.payload.get("stream_options") or {}
            if options.get("include_usage") is not True:
                changes["stream_options"] = {**options, "include_usage": True}
        if not changes and not self.changed:
            return self.raw  # untouched: no re-serialisation on the hot path
        return _dumps({**self.payload, **changes}).encode()


def _bad(param: str, message: str) -> LLMInvalidRequest:
    return LLMInvalidRequest(f"{param}: {message}", param=param)


def _int(payload: dict[str, Any], name: str) -> tuple[int | None, bool]:
    """(value, coerced): `payload[name]` as vLLM's `int | None` field reads it."""
    value = payload.get(name)
    if value is None or (type(value) is int):
        return value, False
    try:
        return _INT.validate_python(value), True
    except ValidationError:
        raise _bad(name, f"must be an integer, got {json.dumps(value)[:40]}") from None


def _bool(payload: dict[str, Any], name: str) -> tuple[bool | None, bool]:
    value = payload.get(name)
    if value is None or value is True or value is False:
        return value, False
    try:
        return _BOOL.validate_python(value), True
    except ValidationError:
        raise _bad(name, "must be true or false") from None


class _Reader:
    """Reads the bounded fields of one payload, recording canonical values to write back."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload
        self.updates: dict[str, Any] = {}

    def int(self, name: str) -> int | None:
        value, coerced = _int(self.payload, name)
        if coerced:
            self.updates[name] = value
        return value

    def bool(self, name: str) -> bool | None:
        value, coerced = _bool(self.payload, name)
        if coerced:
            self.updates[name] = value
        return value


def parse_llm_request(raw: bytes, operation: Operation, policy: FieldPolicy, limits: Limits) -> LLMRequest:
    payload = decode_json_object(raw, max_depth=limits.max_depth)
    if operation == "text_completion" and payload.get("max_completion_tokens") is not None:
        raise _bad("max_completion_tokens", "not a /v1/completions field (vLLM ignores it); use max_tokens")
    refused = policy.refused(operation, payload)
    if refused is not None:
        raise _bad(refused, "not accepted by this gateway (see docs/api.md for the forwarded fields)")
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model", "required, a non-empty string")
    r = _Reader(payload)
    prompts = _check_messages(payload, limits) if operation == "chat" else _check_prompt(payload, limits, r)
    _check_stop(payload, limits)
    n = _n(r, operation, limits)
    best_of = r.int("best_of")
    if best_of is not None and not 1 <= best_of <= limits.max_n:
        raise _bad("best_of", f"must be between 1 and {limits.max_n}")
    max_tokens = _max_tokens(r, operation, limits)
    stream = bool(r.bool("stream"))
    wants_usage = _stream_options(payload, stream, r)
    sequences = prompts * max(n, best_of or 1)
    changed = bool(r.updates)
    if changed:
        payload = {**payload, **r.updates}
    return LLMRequest(operation, model, stream, wants_usage, max_tokens, sequences, payload, raw, changed)


def _check_messages(payload: dict[str, Any], limits: Limits) -> int:
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("messages", "required, a non-empty list")
    if len(messages) > limits.max_messages:
        raise _bad("messages", f"at most {limits.max_messages} messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise _bad(f"messages[{i}]", "each message is an object with a string 'role'")
        content = m.get("content")
        if content is not None and not isinstance(content, str | list):
            raise _bad(f"messages[{i}].content", "must be a string or a list of content parts")
        if isinstance(content, list) and not all(isinstance(p, dict) for p in content):
            raise _bad(f"messages[{i}].content", "each content part is an object")
    return 1


def _check_prompt(payload: dict[str, Any], limits: Limits, r: _Reader) -> int:
    """The number of prompts vLLM will run (each gets its own `n` choices)."""
    prompt = payload.get("prompt")
    if isinstance(prompt, str):
        if not prompt:
            raise _bad("prompt", "must not be empty")
        return 1
    if not isinstance(prompt, list) or not prompt:
        raise _bad("prompt", "required: a string, a list of strings, token ids, or token-id lists")
    first = type(prompt[0])
    if not all(type(p) is first for p in prompt) or first not in (str, int, list):
        try:  # lax pydantic, as vLLM: [1.0, 2.0] is a token-id list there
            prompt = _PROMPT.validate_python(prompt)
        except ValidationError:
            raise _bad(
                "prompt",
                "must be a string, a list of strings, a list of token ids or a list of token-id lists",
            ) from None
        r.updates["prompt"] = prompt
        first = type(prompt[0])
    if first is int:
        return 1  # one prompt given as token ids
    if len(prompt) > limits.max_prompts:
        raise _bad("prompt", f"at most {limits.max_prompts} prompts in one request")
    if first is list:
        for i, ids in enumerate(prompt):
            if not ids:
                raise _bad(f"prompt[{i}]", "must not be empty")
            if not all(type(t) is int for t in ids):
                try:
                    prompt = _PROMPT.validate_python(prompt)
                except ValidationError:
                    raise _bad(f"prompt[{i}]", "token ids must be integers") from None
                r.updates["prompt"] = prompt
                break
    elif not all(prompt):
        raise _bad("prompt", "prompts must not be empty")
    return len(prompt)


def _check_stop(payload: dict[str, Any], limits: Limits) -> None:
    stop = payload.get("stop")
    if stop is None or isinstance(stop, str):
        return
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise _bad("stop", "must be a string or a list of strings")
    if len(stop) > limits.max_stop:
        raise _bad("stop", f"at most {limits.max_stop} stop sequences")


def _n(r: _Reader, operation: Operation, limits: Limits) -> int:
    if "n" in r.payload and r.payload["n"] is None:
        if operation == "text_completion":
            raise _bad("n", "must be an integer")  # vLLM's completions model has `n: int = 1`
        r.updates["n"] = 1  # chat's `n: int | None = 1`: null means 1
        return 1
    n = r.int("n")
    if n is None:
        return 1
    if not 1 <= n <= limits.max_n:
        raise _bad("n", f"must be between 1 and {limits.max_n}")
    return n


def _max_tokens(r: _Reader, operation: Operation, limits: Limits) -> int:
    """The per-sequence output limit vLLM will apply, written into the forwarded body."""
    cap = limits.max_tokens_cap
    if operation == "chat":
        mct, mt = r.int("max_completion_tokens"), r.int("max_tokens")
        name, limit = ("max_completion_tokens", mct) if mct is not None else ("max_tokens", mt)
    else:
        name, limit = "max_tokens", r.int("max_tokens")
        if limit is None:
            # Absent or explicit null: vLLM's `normalize_null_max_tokens` makes both the field default.
            limit = COMPLETIONS_DEFAULT_MAX_TOKENS
    if limit is None:
        limit = cap  # chat: vLLM would generate to the end of the context; bound it
    elif not 1 <= limit <= cap:
        raise _bad(name, f"must be between 1 and {cap} (llm.max_tokens_cap)")
    if operation == "chat":
        # Both fields, equal: vLLM reads max_completion_tokens first, older servers only max_tokens.
        if r.payload.get("max_completion_tokens") != limit or r.payload.get("max_tokens") != limit:
            r.updates["max_completion_tokens"] = limit
            r.updates["max_tokens"] = limit
    elif r.payload.get("max_tokens") != limit or type(r.payload.get("max_tokens")) is not int:
        r.updates["max_tokens"] = limit
    return limit


def _stream_options(payload: dict[str, Any], stream: bool, r: _Reader) -> bool:
    options = payload.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, dict):
        raise _bad("stream_options", "must be an object")
    if not stream:
        raise _bad("stream_options", "only allowed when stream is true")
    value = options.get("include_usage", False)  # vLLM's StreamOptions: `include_usage: bool | None = False`
    if value is True or value is False:
        return value
    try:
        return _BOOL.validate_python(value)
    except ValidationError:
        raise _bad("stream_options.include_usage", "must be true or false") from None
