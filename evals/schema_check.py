"""A small JSON-Schema subset validator for the `json_schema` scorer (no `jsonschema` dependency).

Supported keywords: `type` (a name or a list of names), `properties`, `required`, `additionalProperties`
(a boolean or a schema), `items` (one schema), `enum`, `const`, `minimum`, `maximum`, `exclusiveMinimum`,
`exclusiveMaximum`, `minLength`, `maxLength`, `pattern`, `minItems`, `maxItems`, plus the annotations
`title`, `description` and `$schema`. Any other keyword is refused when the suite loads
(`check_schema`), so a suite never believes a constraint is checked when it is not.

    >>> validate({"a": 1}, {"type": "object", "required": ["a", "b"]})
    ["$: missing required property 'b'"]
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["SUPPORTED_KEYWORDS", "SchemaError", "check_schema", "validate"]

SUPPORTED_KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "const",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "title",
        "description",
        "$schema",
    }
)
_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})


class SchemaError(ValueError):
    """The schema itself uses something this subset does not support, or is malformed."""


def check_schema(schema: Any, where: str = "$") -> None:
    """Raise SchemaError when `schema` is outside the supported subset."""
    if not isinstance(schema, dict):
        raise SchemaError(f"schema at {where} must be an object")
    unknown = sorted(set(schema) - SUPPORTED_KEYWORDS)
    if unknown:
        raise SchemaError(f"schema keyword {unknown[0]!r} at {where} is not supported")
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        bad = [t for t in names if t not in _TYPES]
        if bad:
            raise SchemaError(f"unknown type {bad[0]!r} at {where}")
    for name, sub in (schema.get("properties") or {}).items():
        check_schema(sub, f"{where}.{name}")
    if isinstance(schema.get("additionalProperties"), dict):
        check_schema(schema["additionalProperties"], f"{where}.*")
    if "items" in schema:
        check_schema(schema["items"], f"{where}[]")
    if "pattern" in schema:
        try:
            re.compile(schema["pattern"])
        except (re.error, TypeError) as exc:
            raise SchemaError(f"bad pattern at {where}: {exc}") from None


def _type_ok(value: Any, name: str) -> bool:
    # bool is an int subclass in Python but not a number in JSON Schema.
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if name == "integer":
        return isinstance(value, int) or (math.isfinite(value) and float(value).is_integer())
    return True  # number


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def validate(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """Every violation of `schema` by `value`, as `path: message` lines (empty when valid)."""
    errors: list[str] = []
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        if not any(_type_ok(value, n) for n in names):
            return [f"{where}: expected {' or '.join(names)}, got {type(value).__name__}"]
    if "const" in schema and not _json_equal(value, schema["const"]):
        errors.append(f"{where}: expected {schema['const']!r}")
    if "enum" in schema and not any(_json_equal(value, v) for v in schema["enum"]):
        errors.append(f"{where}: {value!r} is not one of {schema['enum']!r}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        errors += _check_number(value, schema, where)
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{where}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{where}: longer than {schema['maxLength']}")
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            errors.append(f"{where}: does not match {schema['pattern']!r}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{where}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{where}: more than {schema['maxItems']} items")
        if "items" in schema:
            for i, element in enumerate(value):
                errors += validate(element, schema["items"], f"{where}[{i}]")
    if isinstance(value, dict):
        errors += _check_object(value, schema, where)
    return errors


def _check_number(value: float, schema: dict[str, Any], where: str) -> list[str]:
    errors = []
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{where}: {value} < minimum {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        errors.append(f"{where}: {value} > maximum {schema['maximum']}")
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        errors.append(f"{where}: {value} <= exclusiveMinimum {schema['exclusiveMinimum']}")
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        errors.append(f"{where}: {value} >= exclusiveMaximum {schema['exclusiveMaximum']}")
    return errors


def _check_object(value: dict[str, Any], schema: dict[str, Any], where: str) -> list[str]:
    errors = [
        f"{where}: missing required property {name!r}"
        for name in schema.get("required", [])
        if name not in value
    ]
    properties: dict[str, Any] = schema.get("properties") or {}
    extra = schema.get("additionalProperties", True)
    for name, element in value.items():
        if name in properties:
            errors += validate(element, properties[name], f"{where}.{name}")
        elif extra is False:
            errors.append(f"{where}: unexpected property {name!r}")
        elif isinstance(extra, dict):
            errors += validate(element, extra, f"{where}.{name}")
    return errors
