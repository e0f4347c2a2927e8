"""The few fields of an OpenAI request the gateway must understand; everything else passes through.

The body is not modelled as a whole (vLLM accepts many extensions the gateway has no business refusing):
only the fields that drive routing, billing and telemetry are checked, each with an error naming it.
Spec: https://platform.openai.com/docs/api-reference/chat/create
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from gateway.errors import InvalidRequest

__all__ = ["LLMRequest", "Operation", "parse_llm_request"]

Operation = Literal["chat", "text_completion"]


class LLMInvalidRequest(InvalidRequest):
    status = 400  # OpenAI and vLLM answer malformed requests with 400


@dataclass
class LLMRequest:
    operation: Operation
    model: str
    stream: bool
    client_wants_usage: bool  # stream_options.include_usage as the client sent it
    max_tokens: int | None
    payload: dict[str, Any]
    raw: bytes

    def upstream_body(self, max_tokens_cap: int) -> bytes:
        """The body sent upstream. A stream always asks for usage, so billing never guesses; a request
        without max_tokens gets the cap the reservation assumed, so the reservation is a true bound."""
        changes: dict[str, Any] = {}
        if self.max_tokens is None:
            changes["max_tokens"] = max_tokens_cap
        if self.stream:
            changes["stream_options"] = {**(self.payload.get("stream_options") or {}), "include_usage": True}
        if not changes:
            return self.raw  # untouched: no re-serialisation on the hot path
        return json.dumps({**self.payload, **changes}, separators=(",", ":")).encode()

    @property
    def choices(self) -> int:
        n = self.payload.get("n", 1)
        return n if isinstance(n, int) and not isinstance(n, bool) and n >= 1 else 1


def _bad(param: str, message: str) -> LLMInvalidRequest:
    return LLMInvalidRequest(f"{param}: {message}", param=param)


def parse_llm_request(body: bytes, operation: Operation) -> LLMRequest:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise LLMInvalidRequest("request body is not valid JSON", param="body") from None
    if not isinstance(payload, dict):
        raise _bad("body", "must be a JSON object")
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model", "required, a non-empty string")
    if operation == "chat":
        messages = payload.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _bad("messages", "required, a non-empty list")
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str):
                raise _bad(f"messages[{i}]", "each message needs a string 'role'")
    else:
        prompt = payload.get("prompt")
        if not (isinstance(prompt, str) or (isinstance(prompt, list) and prompt)):
            raise _bad("prompt", "required, a string or a list")
    stream = payload.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("stream", "must be true or false")
    max_tokens = payload.get("max_completion_tokens", payload.get("max_tokens"))
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise _bad("max_tokens", "must be a positive integer")
    options = payload.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise _bad("stream_options", "must be an object")
    if options and not stream:
        raise _bad("stream_options", "only allowed when stream is true")
    wants_usage = bool(options and options.get("include_usage"))
    return LLMRequest(operation, model, stream, wants_usage, max_tokens, payload, body)
