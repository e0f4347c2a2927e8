from __future__ import annotations

import json

import pytest

from gateway.errors import InvalidRequest
from gateway.llm.protocol import parse_llm_request


def _body(**fields: object) -> bytes:
    return json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}).encode()


def test_a_plain_request_goes_upstream_byte_for_byte_when_nothing_needs_adding() -> None:
    raw = _body(max_tokens=5)
    req = parse_llm_request(raw, "chat")
    assert (req.model, req.stream, req.max_tokens, req.choices) == ("m", False, 5, 1)
    assert req.upstream_body(4096) is raw


def test_streams_always_ask_for_usage_and_remember_what_the_client_asked() -> None:
    req = parse_llm_request(_body(stream=True, max_tokens=5), "chat")
    sent = json.loads(req.upstream_body(4096))
    assert sent["stream_options"] == {"include_usage": True} and req.client_wants_usage is False
    req = parse_llm_request(_body(stream=True, max_tokens=5, stream_options={"include_usage": True}), "chat")
    assert req.client_wants_usage is True


def test_a_missing_max_tokens_gets_the_cap_the_reservation_assumed() -> None:
    req = parse_llm_request(_body(), "chat")
    assert req.max_tokens is None
    assert json.loads(req.upstream_body(321))["max_tokens"] == 321
    req = parse_llm_request(_body(max_completion_tokens=9, n=3), "chat")
    assert req.max_tokens == 9 and req.choices == 3


@pytest.mark.parametrize(
    ("body", "op", "param"),
    [
        (b"{nope", "chat", "body"),
        (b"[1]", "chat", "body"),
        (json.dumps({"messages": [{"role": "user", "content": "x"}]}).encode(), "chat", "model"),
        (json.dumps({"model": "m", "messages": []}).encode(), "chat", "messages"),
        (json.dumps({"model": "m", "messages": [{"content": "x"}]}).encode(), "chat", "messages[0]"),
        (json.dumps({"model": "m"}).encode(), "text_completion", "prompt"),
        (_body(stream="yes"), "chat", "stream"),
        (_body(max_tokens=0), "chat", "max_tokens"),
        (_body(max_tokens=True), "chat", "max_tokens"),
        (_body(stream_options={"include_usage": True}), "chat", "stream_options"),
    ],
)
def test_bad_requests_name_the_field(body: bytes, op: str, param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_llm_request(body, op)  # type: ignore[arg-type]
    assert info.value.param == param and info.value.http_status == 400
