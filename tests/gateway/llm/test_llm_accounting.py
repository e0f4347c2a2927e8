from __future__ import annotations

import json

from gateway.llm.accounting import StreamMeter, Usage, estimate_usage, usage_from_response


def _chunk(
    content: str | None = None, finish: str | None = None, usage: dict | None = None, choices: bool = True
) -> bytes:
    body: dict = {"id": "chatcmpl-1", "model": "m", "object": "chat.completion.chunk"}
    body["choices"] = (
        [{"index": 0, "delta": {"content": content} if content is not None else {}, "finish_reason": finish}]
        if choices
        else []
    )
    if usage is not None:
        body["usage"] = usage
    return b"data: " + json.dumps(body).encode()


def test_meter_drops_the_usage_chunk_only_when_the_client_did_not_ask() -> None:
    usage_line = _chunk(usage={"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}, choices=False)
    quiet, asked = StreamMeter(client_wants_usage=False), StreamMeter(client_wants_usage=True)
    for meter in (quiet, asked):
        for line in (_chunk("a"), b"", _chunk(" b"), _chunk(" c", finish="stop")):
            assert meter.feed(line) is True
    assert quiet.feed(usage_line) is False and asked.feed(usage_line) is True
    for meter in (quiet, asked):
        assert meter.feed(b"data: [DONE]") is True and meter.done
        assert meter.usage == Usage(7, 3) and meter.finish_reasons == ["stop"]
        assert meter.chunks_with_text == 3 and len(meter.gaps) == 2 and meter.ttft is not None
        assert meter.response_id == "chatcmpl-1"


def test_without_upstream_usage_output_is_counted_and_marked_estimated() -> None:
    meter = StreamMeter(client_wants_usage=False, keep_text=True)
    for line in (_chunk(""), _chunk("one"), _chunk(" two"), _chunk(None, finish="length"), b"data: [DONE]"):
        meter.feed(line)
    assert meter.usage is None and (meter.chunks_with_text, meter.text_chars) == (2, 7)
    # one token per chunk: the chunks are the count
    assert estimate_usage(12, meter.text_chars, meter.chunks_with_text, output_bound=100) == Usage(
        12, 2, estimated=True
    )
    assert meter.text == "one two"


def test_the_usage_estimate_never_exceeds_what_the_request_could_generate() -> None:
    assert estimate_usage(5, text_chars=9_000, text_chunks=10, output_bound=64) == Usage(
        5, 64, estimated=True
    )
    assert estimate_usage(5, text_chars=0, text_chunks=0, output_bound=64) == Usage(5, 0, estimated=True)
    # one token per chunk, short tokens: the chunk count wins
    assert estimate_usage(5, text_chars=20, text_chunks=10, output_bound=64).output_tokens == 10
    # many tokens per chunk (a stream interval): the text's length sets a floor
    assert estimate_usage(5, text_chars=400, text_chunks=2, output_bound=64).output_tokens == 50


def test_non_sse_lines_and_garbage_pass_through_untouched() -> None:
    meter = StreamMeter(client_wants_usage=False)
    assert meter.feed(b": keep-alive comment") is True
    assert meter.feed(b"data: {not json") is True
    assert meter.feed(b'data: ["a list"]') is True
    assert meter.chunks_with_text == 0 and meter.usage is None


def test_completion_chunks_count_text_too() -> None:
    meter = StreamMeter(client_wants_usage=False)
    line = b'data: {"id": "cmpl-1", "choices": [{"index": 0, "text": "hi", "finish_reason": null}]}'
    meter.feed(line)
    assert meter.chunks_with_text == 1


def test_usage_from_response() -> None:
    assert usage_from_response({"usage": {"prompt_tokens": 3, "completion_tokens": 4}}) == Usage(3, 4)
    assert usage_from_response({"usage": None}) is None
    assert usage_from_response({"usage": {"prompt_tokens": "3"}}) is None
    assert usage_from_response([1, 2]) is None
