"""Request parsing and validation for `/v1/chat/completions` and `/v1/completions`, without pydantic.

It checks what vLLM's OpenAI server checks for a text model and raises `ApiError`, which the app renders
as vLLM's error body (`{"error": {"message", "type", "param", "code"}}`, with `code` the HTTP status):
400 `BadRequestError` for bad input, 404 `NotFoundError` for a model that is not served.
Parameters that only shape sampling (temperature, top_p, stop, ...) are checked for type and ignored.

    req = parse_chat(b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}', "m", 8192)
    req.prompt_text  # 'hi'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from adapters.vllm.sim.tokens import CHAT_MESSAGE_OVERHEAD, split_tokens

__all__ = ["ApiError", "GenerationRequest", "parse_chat", "parse_completion", "parse_json_object"]

_decode = json.JSONDecoder().decode


class ApiError(Exception):
    """An error the client should see as an OpenAI/vLLM-shaped JSON body with `status`."""

    def __init__(
        self,
        status: int,
        message: str,
        err_type: str = "BadRequestError",
        param: str | None = None,
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.err_type = err_type
        self.param = param
        self.headers = headers


@dataclass(slots=True)
class GenerationRequest:
    """What the simulator needs from a validated request."""

    chat: bool
    model: str
    # The text answers are looked up by: the last user message of a chat, or the completion prompt.
    prompt_text: str
    # `prompt_text` split by the simulator's tokenizer (the echo answer is made from it).
    prompt_pieces: list[str]
    prompt_tokens: int
    max_tokens: int | None
    stream: bool
    include_usage: bool
    seed: int | None


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a 400."""
    try:
        data = _decode(body.decode())
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both are
        raise ApiError(400, f"Request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "Request body must be a JSON object")
    return data


def parse_chat(body: bytes, served_model: str, max_model_len: int) -> GenerationRequest:
    data = parse_json_object(body)
    model = _model(data, served_model)
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
    max_tokens = _max_tokens(data, "max_completion_tokens")
    if max_tokens is None:
        max_tokens = _max_tokens(data, "max_tokens")
    return _finish(data, True, model, *last_user, prompt_tokens, max_tokens, max_model_len)


def parse_completion(body: bytes, served_model: str, max_model_len: int) -> GenerationRequest:
    data = parse_json_object(body)
    model = _model(data, served_model)
    prompt = data.get("prompt")
    # vLLM also batches a list of prompts into several choices; the simulator serves one per request.
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise ApiError(400, "'prompt' must be a string (or a list holding one string)", param="prompt")
    max_tokens = _max_tokens(data, "max_tokens")
    if "max_tokens" not in data:
        max_tokens = 16  # the OpenAI completions API's default, which vLLM follows
    pieces = split_tokens(prompt)
    return _finish(data, False, model, prompt, pieces, len(pieces), max_tokens, max_model_len)


def _finish(
    data: dict[str, Any],
    chat: bool,
    model: str,
    prompt_text: str,
    prompt_pieces: list[str],
    prompt_tokens: int,
    max_tokens: int | None,
    max_model_len: int,
) -> GenerationRequest:
    stream = data.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise ApiError(400, "'stream' must be a boolean", param="stream")
    include_usage = _include_usage(data.get("stream_options"), bool(stream))
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ApiError(400, "'seed' must be an integer", param="seed")
    n = data.get("n")
    if n is not None and n != 1:
        raise ApiError(400, "the simulator serves n=1 only", param="n")
    _check_sampling(data)
    if prompt_tokens >= max_model_len:
        raise ApiError(
            400,
            f"This model's maximum context length is {max_model_len} tokens. However, your request has "
            f"{prompt_tokens} input tokens. Please reduce the length of the input messages.",
        )
    if max_tokens is not None and prompt_tokens + max_tokens > max_model_len:
        raise ApiError(
            400,
            f"'max_tokens' or 'max_completion_tokens' is too large: {max_tokens}. This model's maximum "
            f"context length is {max_model_len} tokens and your request has {prompt_tokens} input tokens "
            f"({max_tokens} > {max_model_len} - {prompt_tokens}).",
            param="max_tokens",
        )
    return GenerationRequest(
        chat=chat,
        model=model,
        prompt_text=prompt_text,
        prompt_pieces=prompt_pieces,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens,
        stream=bool(stream),
        include_usage=include_usage,
        seed=seed,
    )


def _model(data: dict[str, Any], served_model: str) -> str:
    model = data.get("model")
    # Like vLLM, a request without a model goes to the served one.
    if model is None or model == "":
        return served_model
    if model != served_model:
        raise ApiError(404, f"The model `{model}` does not exist.", "NotFoundError", "model")
    return served_model


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


def _max_tokens(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"'{name}' must be an integer", param=name)
    if value < 1:
        raise ApiError(400, f"{name} must be at least 1, got {value}.", param=name)
    return value


def _include_usage(options: Any, stream: bool) -> bool:
    if options is None:
        return False
    if not isinstance(options, dict):
        raise ApiError(400, "'stream_options' must be an object", param="stream_options")
    if not stream:
        raise ApiError(400, "Stream options can only be defined when `stream=True`.", param="stream_options")
    # vLLM's StreamOptions defaults include_usage to True when stream_options is present.
    return bool(options.get("include_usage", True))


def _check_sampling(data: dict[str, Any]) -> None:
    temperature = data.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool) or not isinstance(temperature, int | float) or temperature < 0
    ):
        raise ApiError(400, "temperature must be a non-negative number", param="temperature")
    top_p = data.get("top_p")
    if top_p is not None and (
        isinstance(top_p, bool) or not isinstance(top_p, int | float) or not 0 < top_p <= 1
    ):
        raise ApiError(400, "top_p must be in (0, 1]", param="top_p")
