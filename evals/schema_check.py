"""JSON-Schema for the `json_schema` scorer, through `jsonschema` (draft 2020-12 unless `$schema` names
another draft): every keyword works, `$ref` to `$defs`, `anyOf`/`oneOf`/`allOf`, `if`/`then`, formats
as annotations. A schema the draft's metaschema refuses (a `pattern` that is not a regex too) is refused
when the suite loads (`check_schema`), so a suite never believes a constraint is checked when it is not.

Messages say where in the document, as a JSONPath-like `$.a[0].b`, then jsonschema's own words:

    >>> validate({"a": 1}, {"type": "object", "required": ["a", "b"]})
    ["$: 'b' is a required property"]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError as JSONSchemaError
from jsonschema.validators import validator_for

__all__ = ["SchemaError", "check_schema", "validate"]


class SchemaError(ValueError):
    """The schema itself is not valid for its draft. The message is one line."""


def _where(path: Iterable[Any]) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _validator(schema: Any) -> Any:
    if not isinstance(schema, dict | bool):
        raise SchemaError("a JSON Schema must be an object (or a boolean)")
    cls = validator_for(schema, default=Draft202012Validator)
    return cls(schema)


def check_schema(schema: Any) -> None:
    """Refuse a schema its draft's metaschema refuses (a `pattern` that is not a regex included)."""
    validator = _validator(schema)
    try:
        type(validator).check_schema(schema)
    except JSONSchemaError as exc:
        raise SchemaError(f"{exc.message} (at {_where(exc.absolute_path)})") from None


def validate(value: Any, schema: dict[str, Any] | bool) -> list[str]:
    """Every violation of `schema` by `value`, as `"$.path: message"`, shallowest first; [] when valid."""
    errors = sorted(_validator(schema).iter_errors(value), key=lambda e: (len(e.absolute_path), e.message))
    return [f"{_where(e.absolute_path)}: {e.message}" for e in errors]
