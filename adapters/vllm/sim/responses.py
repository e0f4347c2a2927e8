"""Response bodies in vLLM's OpenAI-compatible shapes, encoded straight to bytes.

Completion bodies and streaming chunks are the hot path, so they are rendered from string templates
(strings escaped by json's C `encode_basestring`) rather than built as dicts and dumped; `ChunkEncoder`
pre-renders everything around the token text once per request. Field order and presence follow
vLLM's `model_dump_json(exclude_unset=True)` output:

    data: {"id":"chatcmpl-…","object":"chat.completion.chunk","created":…,"model":"m","choices":[{"index":0,
           "delta":{"content":" world"},"logprobs":null,"finish_reason":null}]}

Each chunk carries one choice, its `index` saying which. The last token's chunk of a choice carries
`finish_reason` (and `stop_reason: null`), as vLLM sends it; with `include_usage` a chunk with
`"choices":[]` and `usage` (totals over every prompt and choice) follows, then `data: [DONE]`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from json.encoder import encode_basestring

__all__ = [
    "DONE",
    "ChunkEncoder",
    "chat_completion_body",
    "completion_body",
    "dumps",
    "error_body",
    "models_body",
]

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
DONE = "data: [DONE]\n\n"


def dumps(obj: object) -> bytes:
    """Compact UTF-8 JSON."""
    return _encoder.encode(obj).encode()


def _usage(prompt_tokens: int, completion_tokens: int) -> str:
    return (
        f'{{"prompt_tokens":{prompt_tokens},"total_tokens":{prompt_tokens + completion_tokens},'
        f'"completion_tokens":{completion_tokens}}}'
    )


def error_body(status: int, message: str, err_type: str, param: str | None) -> bytes:
    """vLLM's ErrorResponse: the error nested under "error", `code` the HTTP status."""
    return dumps({"error": {"message": message, "type": err_type, "param": param, "code": status}})


def models_body(model: str, created: int, max_model_len: int, permission_id: str) -> bytes:
    card = {
        "id": model,
        "object": "model",
        "created": created,
        "owned_by": "vllm",
        "root": model,
        "parent": None,
        "max_model_len": max_model_len,
        "permission": [
            {
                "id": permission_id,
                "object": "model_permission",
                "created": created,
                "allow_create_engine": False,
                "allow_sampling": True,
                "allow_logprobs": True,
                "allow_search_indices": False,
                "allow_view": True,
                "allow_fine_tuning": False,
                "organization": "*",
                "group": None,
                "is_blocking": False,
            }
        ],
    }
    return dumps({"object": "list", "data": [card]})


def _chat_choice(index: int, text: str, finish_reason: str) -> str:
    return (
        f'{{"index":{index},"message":{{"role":"assistant","content":{encode_basestring(text)},'
        f'"tool_calls":[]}},"logprobs":null,"finish_reason":"{finish_reason}","stop_reason":null}}'
    )


def _text_choice(index: int, text: str, finish_reason: str) -> str:
    return (
        f'{{"index":{index},"text":{encode_basestring(text)},"logprobs":null,'
        f'"finish_reason":"{finish_reason}","stop_reason":null,"prompt_logprobs":null}}'
    )


def chat_completion_body(
    request_id: str,
    created: int,
    model: str,
    choices: Sequence[tuple[str, str]],
    prompt_tokens: int,
    completion_tokens: int,
) -> bytes:
    """vLLM's ChatCompletionResponse for `choices` of (text, finish_reason), indexes 0..n-1, rendered
    from a template (a dict + json.dumps costs 3x more)."""
    rendered = ",".join(_chat_choice(i, text, reason) for i, (text, reason) in enumerate(choices))
    return (
        f'{{"id":{encode_basestring(request_id)},"object":"chat.completion","created":{created},'
        f'"model":{encode_basestring(model)},"choices":[{rendered}],'
        f'"usage":{_usage(prompt_tokens, completion_tokens)},"prompt_logprobs":null}}'
    ).encode()


def completion_body(
    request_id: str,
    created: int,
    model: str,
    choices: Sequence[tuple[str, str]],
    prompt_tokens: int,
    completion_tokens: int,
) -> bytes:
    """vLLM's CompletionResponse: all choices of the first prompt, then the next prompt's (vLLM numbers
    them in that order, `index = prompt * n + choice`)."""
    rendered = ",".join(_text_choice(i, text, reason) for i, (text, reason) in enumerate(choices))
    return (
        f'{{"id":{encode_basestring(request_id)},"object":"text_completion","created":{created},'
        f'"model":{encode_basestring(model)},"choices":[{rendered}],'
        f'"usage":{_usage(prompt_tokens, completion_tokens)}}}'
    ).encode()


class ChunkEncoder:
    """SSE `data:` lines for one streamed request, chat or text completion; one choice per chunk, as
    vLLM sends them (`index` says which)."""

    __slots__ = ("_chat", "_head", "_mid", "_tail")

    def __init__(self, chat: bool, request_id: str, created: int, model: str) -> None:
        self._chat = chat
        obj = "chat.completion.chunk" if chat else "text_completion"
        self._head = (
            f'data: {{"id":{encode_basestring(request_id)},"object":"{obj}","created":{created},'
            f'"model":{encode_basestring(model)},"choices":['
        )
        self._mid = '{"index":0,"delta":{"content":' if chat else '{"index":0,"text":'
        self._tail = "}," if chat else ","

    def _open(self, index: int) -> str:
        if index == 0:
            return self._mid
        return f'{{"index":{index},"delta":{{"content":' if self._chat else f'{{"index":{index},"text":'

    def role(self, index: int = 0) -> str:
        """A chat choice's first chunk: the assistant role with empty content."""
        return (
            f'{self._head}{{"index":{index},"delta":{{"role":"assistant","content":""}},"logprobs":null,'
            '"finish_reason":null}]}\n\n'
        )

    def token(self, text: str, index: int = 0) -> str:
        if self._chat:
            return (
                f'{self._head}{self._open(index)}{encode_basestring(text)}}},"logprobs":null,'
                '"finish_reason":null}]}\n\n'
            )
        return (
            f'{self._head}{self._open(index)}{encode_basestring(text)},"logprobs":null,'
            '"finish_reason":null,"stop_reason":null}]}\n\n'
        )

    def last(self, text: str, finish_reason: str, index: int = 0) -> str:
        """A choice's final token chunk, carrying its finish reason."""
        return (
            f'{self._head}{self._open(index)}{encode_basestring(text)}{self._tail}"logprobs":null,'
            f'"finish_reason":"{finish_reason}","stop_reason":null}}]}}\n\n'
        )

    def usage(self, prompt_tokens: int, completion_tokens: int) -> str:
        """The usage-only chunk sent when `stream_options.include_usage` is true: totals over every
        prompt and choice."""
        return f'{self._head}],"usage":{_usage(prompt_tokens, completion_tokens)}}}\n\n'
