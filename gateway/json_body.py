"""Strict JSON request bodies: a 4xx naming the problem for every hostile body, never a 500.

Before FastAPI validates a body against its model, `StrictJSONRoute` checks what the model cannot see:
- the content type is JSON (`application/json` or `application/*+json`; none given is read as JSON) —
  anything else is 415;
- the bytes are UTF-8 — else 400;
- the text is JSON, without duplicate keys (`{"a": 1, "a": 2}` means different things to different
  parsers: one reading would be checked and another acted on) and nested at most `MAX_DEPTH` deep — else
  400 naming the key or the depth.
Size is bounded before this (BodySizeLimitMiddleware, 413).

    router = APIRouter(route_class=StrictJSONRoute)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import InvalidRequest, UnsupportedMediaType

__all__ = [
    "LONE_SURROGATE",
    "MAX_DEPTH",
    "StrictJSONRoute",
    "check_json_content_type",
    "lone_surrogate_at",
    "parse_strict_json",
]

MAX_DEPTH = 32
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class JSONBodyError(InvalidRequest):
    status = 400


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


# One decoder for every body: `json.loads(text, object_pairs_hook=…)` builds a new JSONDecoder per call.
_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates)


def check_json_content_type(content_type: str | None) -> None:
    """Raise 415 unless the content type is JSON (a missing one is taken as JSON, as FastAPI does)."""
    if not content_type:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        return
    raise UnsupportedMediaType(
        f"content-type {media[:64]!r} is not supported; send application/json", param="content-type"
    )


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


LONE_SURROGATE = "a \\u escape names a lone surrogate, which is not a character"


def lone_surrogate_at(raw: bytes, value: Any) -> str | None:
    """Where (`user`, `messages[0].content`) a key or string of `value`, parsed from `raw`, holds a lone
    surrogate, or None.

    JSON allows `"\\udc00"`; Unicode does not, and UTF-8 cannot encode it: forwarded upstream, written to
    the Parquet log or put on a span, such a string raises far from the request that sent it (a 500, a
    lost log batch, a dropped export). Strict UTF-8 decoding refuses encoded surrogates, so only a `\\u`
    escape makes one, and a body without any is not walked.
    """
    if b"\\u" not in raw:
        return None
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and not _encodable(item):
                return path or "body"
        elif isinstance(item, dict):
            for key, child in item.items():
                where = f"{path}.{_printable(key)}" if path else _printable(key)
                if not key.isascii() and not _encodable(key):
                    return where
                stack.append((child, where))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(item))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(key: str) -> str:
    # The path goes into the error message, which must itself be encodable.
    return key[:64].encode("utf-8", "replace").decode("utf-8")


def parse_strict_json(body: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """The parsed body, or JSONBodyError (400) saying what is wrong with it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JSONBodyError(f"body: not UTF-8 (invalid byte at offset {exc.start})", param="body") from None
    try:
        value = _DECODER.decode(text)
    except _DuplicateKey as exc:
        raise JSONBodyError(f"body: duplicate key {exc.key[:64]!r}", param=exc.key[:64]) from None
    except RecursionError:
        raise JSONBodyError(f"body: nested deeper than {max_depth} levels", param="body") from None
    except ValueError:  # JSONDecodeError, and ints past Python's digit limit
        raise JSONBodyError("request body is not valid JSON", param="body") from None
    # A value nests no deeper than the brackets its text opens (those inside strings only add to the
    # count), so a body with few of them needs no walk: the walk was ~5 % of a churn prediction's CPU.
    if body.count(b"{") + body.count(b"[") > max_depth and _depth_exceeds(value, max_depth):
        raise JSONBodyError(f"body: nested deeper than {max_depth} levels", param="body")
    if (where := lone_surrogate_at(body, value)) is not None:
        raise JSONBodyError(f"{where}: {LONE_SURROGATE}", param=where)
    return value


class StrictJSONRoute(APIRoute):
    """An APIRoute whose body goes through `check_json_content_type` and `parse_strict_json` first.

    FastAPI's documented extension point (a custom `route_class`); the body Starlette caches on the
    request is what FastAPI then validates against the route's model.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            if request.method in _BODY_METHODS:
                check_json_content_type(request.headers.get("content-type"))
                parse_strict_json(await request.body())
            return await handler(request)

        return strict_handler
