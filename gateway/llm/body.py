"""Strict JSON decoding of an LLM request body: UTF-8, one value per key, bounded nesting.

The gateway reads a body the way vLLM's server does (Python's `json`), but refuses what the two could read
differently or what costs the event loop: invalid UTF-8, a key given twice (which copy does the upstream
honour?), nesting deeper than `max_depth`, and a content type that is not JSON.

    payload = decode_json_object(raw, max_depth=32)     # raises LLMInvalidRequest naming the field
"""

from __future__ import annotations

import json
from typing import Any

from gateway.errors import InvalidRequest, UnsupportedMediaType
from gateway.json_body import LONE_SURROGATE, lone_surrogate_at

__all__ = ["LLMInvalidRequest", "check_content_type", "decode_json_object"]


class LLMInvalidRequest(InvalidRequest):
    status = 400  # OpenAI and vLLM answer malformed requests with 400


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


_decode = json.JSONDecoder(object_pairs_hook=_no_duplicates).decode


def check_content_type(headers: list[tuple[bytes, bytes]]) -> None:
    """No content type is read as JSON (as FastAPI does); any other non-JSON type is a 415."""
    for name, value in headers:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            if media == b"application/json" or (
                media.startswith(b"application/") and media.endswith(b"+json")
            ):
                return
            raise UnsupportedMediaType(
                f"content-type {media.decode('latin-1')!r} is not supported; send application/json",
                param="content-type",
            )


def decode_json_object(raw: bytes, *, max_depth: int) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LLMInvalidRequest(f"body: not valid UTF-8 (at byte {exc.start})", param="body") from None
    try:
        payload = _decode(text)
    except _DuplicateKey as exc:
        raise LLMInvalidRequest(f"{exc.key}: the key appears twice in one object", param=exc.key) from None
    except RecursionError:
        raise LLMInvalidRequest(f"body: nested deeper than {max_depth} levels", param="body") from None
    except ValueError as exc:
        raise LLMInvalidRequest(f"body: not valid JSON ({exc})", param="body") from None
    if not isinstance(payload, dict):
        raise LLMInvalidRequest("body: must be a JSON object", param="body")
    # Fast path: a body with few brackets cannot be deep, and counting bytes runs at C speed.
    if raw.count(b"{") + raw.count(b"[") > max_depth and _depth(payload) > max_depth:
        raise LLMInvalidRequest(f"body: nested deeper than {max_depth} levels", param="body")
    if (where := lone_surrogate_at(raw, payload)) is not None:
        raise LLMInvalidRequest(f"{where}: {LONE_SURROGATE}", param=where)
    return payload


def _depth(value: Any) -> int:
    """Nesting depth of containers, iteratively (a recursive walk is what a deep body would break)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return deepest
