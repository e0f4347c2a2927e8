"""Lax coercion of request fields, exactly as vLLM's pydantic request models read them.

vLLM validates each body with pydantic v2 in lax (python) mode after FastAPI parsed the JSON, so
`"n": "8"` and `"n": 8.0` are 8, `8.5` is a 400, `true` is 1, and a prompt of `[1.0, 2.0]` is a list of
token ids. The simulator must generate for the request *as vLLM reads it*, so it coerces with pydantic's
own `TypeAdapter`s built from the same annotations as vLLM's `CompletionRequest` /
`ChatCompletionRequest` fields. Plain ints, strings and booleans take a fast path that skips pydantic:
the simulator is on the benchmarks' hot path, and for those values the result is the same.

    lax_int("8", "n")                       # 8
    lax_prompt([[1, 2], [3.0]])             # [[1, 2], [3]]
    lax_int(8.5, "n")                       # ApiError 400, param "body.n"
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from adapters.vllm.sim.errors import ApiError, validation_error

__all__ = [
    "PromptValue",
    "clean_loc",
    "lax_bool",
    "lax_cache_salt",
    "lax_float",
    "lax_int",
    "lax_prompt",
    "lax_seed",
    "lax_stream_options",
    "model_validator_error",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

PromptValue = str | list[str] | list[int] | list[list[int]] | None

# The annotations of vLLM's request fields (vllm/entrypoints/openai/completion/protocol.py and
# chat_completion/protocol.py).
_INT = TypeAdapter(int)
_OPT_INT = TypeAdapter(int | None)
_SEED = TypeAdapter(Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)] | None)
_OPT_BOOL = TypeAdapter(bool | None)
_OPT_FLOAT = TypeAdapter(float | None)
_CACHE_SALT = TypeAdapter(Annotated[str, Field(min_length=1, max_length=1024)] | None)
_TOKEN_ID = Annotated[int, Field(ge=0)]
_PROMPT: TypeAdapter[PromptValue] = TypeAdapter(
    list[_TOKEN_ID] | list[list[_TOKEN_ID]] | str | list[str] | None  # type: ignore[arg-type]
)

# pydantic-core's schema-kind names, which vLLM's `clean_loc_for_param` drops from a `loc`.
_INTERNAL_LOC = frozenset(
    [
        "function-wrap",
        "function-after",
        "function-before",
        "function-plain",
        "json-or-python",
        "lax-or-strict",
        "chain",
        "default",
        "nullable",
        "tagged-union",
        "union",
        "call",
        "arguments",
        "is-instance",
        "is-subclass",
        "callable",
        "str",
        "int",
        "float",
        "bool",
        "bytes",
        "bytearray",
        "list",
        "tuple",
        "dict",
        "set",
        "frozenset",
        "complex",
        "none",
        "nonetype",
    ]
)
_BRACKETED = re.compile(r"[\[\]{}()]")


def clean_loc(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as vLLM's `param`: ('body', 'list[int]', 'prompt') -> 'body.prompt'."""
    parts = [str(p) for p in loc if not (_BRACKETED.search(str(p)) or str(p).lower() in _INTERNAL_LOC)]
    return ".".join(parts) if parts else ".".join(str(p) for p in loc)


def _coerce(adapter: TypeAdapter[Any], value: object, name: str) -> Any:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False):
            detail: dict[str, Any] = {
                "type": err["type"],
                "loc": ("body", *name.split("."), *err["loc"]),
                "msg": err["msg"],
                "input": err["input"],
            }
            if "ctx" in err:
                detail["ctx"] = err["ctx"]
            errors.append(detail)
        raise validation_error(errors, clean_loc(errors[0]["loc"])) from None


def lax_int(value: object, name: str, *, nullable: bool = True) -> int | None:
    """`int | None` (or `int` when not nullable) as pydantic reads it."""
    if type(value) is int:
        return value
    if value is None and nullable:
        return None
    result: int | None = _coerce(_OPT_INT if nullable else _INT, value, name)
    return result


def lax_seed(value: object) -> int | None:
    """`seed: int | None = Field(None, ge=INT64_MIN, le=INT64_MAX)`."""
    if value is None or (type(value) is int and INT64_MIN <= value <= INT64_MAX):
        return value  # type: ignore[return-value]
    result: int | None = _coerce(_SEED, value, "seed")
    return result


def lax_bool(value: object, name: str) -> bool | None:
    """`bool | None`: pydantic also takes 0/1 and strings such as "true", "yes", "off"."""
    if value is None or value is True or value is False:
        return value  # type: ignore[return-value]
    result: bool | None = _coerce(_OPT_BOOL, value, name)
    return result


def lax_float(value: object, name: str) -> float | None:
    """`float | None`."""
    if value is None or type(value) is float:
        return value  # type: ignore[return-value]
    if type(value) is int:
        return float(value)
    result: float | None = _coerce(_OPT_FLOAT, value, name)
    return result


def lax_cache_salt(value: object) -> str | None:
    """`cache_salt: str | None = Field(None, min_length=1, max_length=1024)`."""
    if value is None:
        return None
    result: str | None = _coerce(_CACHE_SALT, value, "cache_salt")
    return result


def lax_stream_options(value: object) -> bool:
    """`stream_options: StreamOptions | None`; returns `include_usage` (vLLM's default: False)."""
    if value is None:
        return False
    if not isinstance(value, dict):
        detail = {
            "type": "model_attributes_type",
            "loc": ("body", "stream_options"),
            "msg": "Input should be a valid dictionary or object to extract fields from",
            "input": value,
        }
        raise validation_error([detail], "body.stream_options")
    lax_bool(value.get("continuous_usage_stats"), "stream_options.continuous_usage_stats")
    return bool(lax_bool(value.get("include_usage"), "stream_options.include_usage"))


def _is_token_ids(value: list[Any]) -> bool:
    return all(type(t) is int and t >= 0 for t in value)


def lax_prompt(value: object) -> PromptValue:
    """`prompt: list[int] | list[list[int]] | str | list[str] | None` (token ids >= 0), in pydantic's
    smart-union order: an exact match wins, then the first member that coerces."""
    if value is None or type(value) is str:
        return value  # type: ignore[return-value]
    if type(value) is list and value:
        first = value[0]
        if type(first) is str and all(type(p) is str for p in value):
            return value
        if type(first) is int and _is_token_ids(value):
            return value
        if type(first) is list and all(type(p) is list and _is_token_ids(p) for p in value):
            return value
    result: PromptValue = _coerce(_PROMPT, value, "prompt")
    return result


def model_validator_error(message: str, param: str) -> ApiError:
    """What a vLLM `@model_validator(mode="before")` raising `VLLMValidationError` turns into."""
    detail = {"type": "value_error", "loc": ("body",), "msg": f"Value error, {message}"}
    return validation_error([detail], param)
