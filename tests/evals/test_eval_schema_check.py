"""The JSON-Schema subset used by the json_schema scorer."""

import pytest

from evals.schema_check import SchemaError, check_schema, validate

PERSON = {
    "type": "object",
    "required": ["name", "age"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 20, "pattern": "^[A-Z]"},
        "age": {"type": "integer", "minimum": 0, "exclusiveMaximum": 150},
        "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 1, "maxItems": 2},
    },
}


def test_valid_document():
    assert validate({"name": "Ada", "age": 36, "tags": ["a"]}, PERSON) == []


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({"name": "Ada"}, "missing required property 'age'"),
        ({"name": "ada", "age": 1}, "does not match"),
        ({"name": "", "age": 1}, "shorter than 1"),
        ({"name": "A" * 21, "age": 1}, "longer than 20"),
        ({"name": "Ada", "age": 150}, "exclusiveMaximum"),
        ({"name": "Ada", "age": -1}, "minimum"),
        ({"name": "Ada", "age": 3.5}, "expected integer"),
        ({"name": "Ada", "age": True}, "expected integer"),
        ({"name": "Ada", "age": 1, "extra": 1}, "unexpected property 'extra'"),
        ({"name": "Ada", "age": 1, "tags": []}, "fewer than 1 items"),
        ({"name": "Ada", "age": 1, "tags": ["a", "b", "a"]}, "more than 2 items"),
        ({"name": "Ada", "age": 1, "tags": ["c"]}, "$.tags[0]: 'c' is not one of"),
        ([], "expected object"),
    ],
)
def test_violations_are_reported_with_their_path(doc, fragment):
    errors = validate(doc, PERSON)
    assert errors
    assert any(fragment in e for e in errors), errors


def test_const_and_type_lists_and_booleans_are_not_numbers():
    assert validate(True, {"const": True}) == []
    assert validate(1, {"const": True}) != []
    assert validate(None, {"type": ["string", "null"]}) == []
    assert validate(1, {"type": "number"}) == []
    assert validate(False, {"type": "number"}) != []
    assert validate(2.0, {"type": "integer"}) == []


def test_additional_properties_schema():
    schema = {"type": "object", "additionalProperties": {"type": "number"}}
    assert validate({"a": 1, "b": 2.5}, schema) == []
    assert validate({"a": "x"}, schema) == ["$.a: expected number, got str"]


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "object", "oneOf": [{}]}, "'oneOf'"),
        ({"properties": {"a": {"$ref": "#/x"}}}, "'\\$ref' at \\$.a"),
        ({"type": "decimal"}, "unknown type"),
        ({"pattern": "(["}, "bad pattern"),
        ([], "must be an object"),
    ],
)
def test_unsupported_schemas_are_refused(schema, message):
    with pytest.raises(SchemaError, match=message):
        check_schema(schema)


def test_supported_schema_passes_the_check():
    check_schema(PERSON)
