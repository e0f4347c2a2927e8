"""Strict JSON bodies: every hostile shape is a 400/415 with a message, never an exception."""

from __future__ import annotations

import pytest

from gateway.errors import InvalidRequest, UnsupportedMediaType
from gateway.json_body import MAX_DEPTH, check_json_content_type, parse_strict_json


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b'{"x": {"b": 1, "b": 1}}', "duplicate key 'b'"),
        (b"[" * 50_000 + b"]" * 50_000, "nested deeper"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested deeper"),
        (b'"\xc3\x28"', "not UTF-8"),
        (b"1" * 5000, "not valid JSON"),
        (b"", "not valid JSON"),
        (b"{'a': 1}", "not valid JSON"),
        (b'{"a": [1, {"b": "x\\udc00"}]}', "a[1].b: a \\u escape names a lone surrogate"),
        (b'{"k\\ud800": 1}', "k?: a \\u escape names a lone surrogate"),
        (b'"\\uDBFF"', "body: a \\u escape names a lone surrogate"),
    ],
)
def test_hostile_bodies_are_400(body: bytes, message: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        parse_strict_json(body)
    assert err.value.http_status == 400 and message in err.value.message


def test_good_bodies_parse() -> None:
    assert parse_strict_json(b'{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}
    nested = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert parse_strict_json(nested) is not None
    assert parse_strict_json(b'{"e": "\\u00e9\\ud83d\\ude00"}') == {"e": "\u00e9\U0001f600"}  # a pair is fine


@pytest.mark.parametrize("ctype", [None, "", "application/json", "application/json; charset=utf-8",
                                   "application/merge-patch+json", "Application/JSON"])  # fmt: skip
def test_json_content_types_pass(ctype: str | None) -> None:
    check_json_content_type(ctype)


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_other_content_types_are_415(ctype: str) -> None:
    with pytest.raises(UnsupportedMediaType) as err:
        check_json_content_type(ctype)
    assert err.value.http_status == 415
