"""JSON-Schema scoring through jsonschema (draft 2020-12): messages with their path, $ref/anyOf, refusal of
invalid schemas."""

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
        ({"name": "Ada"}, "$: 'age' is a required property"),
        ({"name": "ada", "age": 1}, "$.name: 'ada' does not match '^[A-Z]'"),
        ({"name": "", "age": 1}, "$.name: '' should be non-empty"),
        ({"name": "A" * 21, "age": 1}, "$.name: 'AAAAAAAAAAAAAAAAAAAAA' is too long"),
        ({"name": "Ada", "age": 150}, "$.age: 150 is greater than or equal to the maximum of 150"),
        ({"name": "Ada", "age": -1}, "$.age: -1 is less than the minimum of 0"),
        ({"name": "Ada", "age": 3.5}, "$.age: 3.5 is not of type 'integer'"),
        ({"name": "Ada", "age": True}, "$.age: True is not of type 'integer'"),
        ({"name": "Ada", "age": 1, "extra": 1}, "('extra' was unexpected)"),
        ({"name": "Ada", "age": 1, "tags": []}, "$.tags: [] should be non-empty"),
        ({"name": "Ada", "age": 1, "tags": ["a", "b", "a"]}, "$.tags: ['a', 'b', 'a'] is too long"),
        ({"name": "Ada", "age": 1, "tags": ["c"]}, "$.tags[0]: 'c' is not one of ['a', 'b']"),
        ([], "$: [] is not of type 'object'"),
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
    assert validate({"a": "x"}, schema) == ["$.a: 'x' is not of type 'number'"]


# What a structured-output suite uses and the old subset refused: $defs/$ref, anyOf, draft 2020-12
# prefixItems, if/then.
ORDER = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {
        "money": {"type": "object", "required": ["amount", "currency"],
                  "properties": {"amount": {"type": "number", "minimum": 0},
                                 "currency": {"enum": ["EUR", "USD"]}}},
    },
    "type": "object",
    "required": ["total", "lines"],
    "properties": {
        "total": {"$ref": "#/$defs/money"},
        "lines": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/money"}]}},
        "point": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}], "items": False},
        "kind": {"enum": ["gift", "sale"]},
    },
    "if": {"properties": {"kind": {"const": "gift"}}, "required": ["kind"]},
    "then": {"required": ["note"]},
}  # fmt: skip


def test_ref_anyof_and_draft_2020_12_keywords_work():
    good = {"total": {"amount": 3, "currency": "EUR"}, "lines": ["x", {"amount": 1, "currency": "USD"}],
            "point": [1, 2]}  # fmt: skip
    assert validate(good, ORDER) == []
    bad_ref = {**good, "total": {"amount": -1, "currency": "GBP"}}
    errors = validate(bad_ref, ORDER)
    assert "$.total.amount: -1 is less than the minimum of 0" in errors
    assert "$.total.currency: 'GBP' is not one of ['EUR', 'USD']" in errors
    assert validate({**good, "lines": [7]}, ORDER) == [
        "$.lines[0]: 7 is not valid under any of the given schemas"
    ]
    assert validate({**good, "point": [1, 2, 3]}, ORDER) != []  # items: false after the prefix
    assert validate({**good, "kind": "gift"}, ORDER) == ["$: 'note' is a required property"]
    check_schema(ORDER)


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "decimal"}, "'decimal' is not valid under any of the given schemas"),
        ({"properties": {"a": {"minLength": -1}}}, "at \\$.properties.a.minLength"),
        ({"pattern": "(["}, "is not a 'regex' \\(at \\$.pattern\\)"),
        ({"properties": {"a": {"pattern": "(["}}}, "at \\$.properties.a.pattern"),
        ([], "must be an object"),
    ],
)
def test_invalid_schemas_are_refused(schema, message):
    with pytest.raises(SchemaError, match=message):
        check_schema(schema)


def test_a_valid_schema_passes_the_check():
    check_schema(PERSON)
