"""GenAI semantic-convention attributes, content capture, and the churn attributes, on real SDK spans."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from gateway.tracing.genai import (
    churn_inference_attributes,
    error_attributes,
    genai_request_attributes,
    genai_response_attributes,
    input_messages_attribute,
    output_messages_attribute,
    span_name,
)

CHAT: dict[str, Any] = {
    "model": "llama-3.1-8b",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "My mail is ann@corp.example, summarise."},
    ],
    "max_tokens": 64,
    "temperature": 0.2,
    "top_p": 0.9,
    "stream": True,
    "stop": ["\n\n"],
    "seed": 7,
    "user": "end-user-42",
    "metadata": {"session_id": "sess-9", "other": 1},
}


def recorded(attributes: dict[str, Any]) -> dict[str, Any]:
    """Set the attributes on a real SDK span and return what the exporter sees (drops invalid types)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.get_tracer("t").start_span("s", kind=SpanKind.CLIENT, attributes=attributes).end()
    (span,) = exporter.get_finished_spans()
    provider.shutdown()
    return dict(span.attributes or {})


def same_on_span(attributes: dict[str, Any]) -> bool:
    """Nothing was dropped or changed by the SDK (it stores sequences as tuples)."""
    expected = {k: tuple(v) if isinstance(v, list) else v for k, v in attributes.items()}
    return recorded(attributes) == expected


def test_chat_request_attributes() -> None:
    attrs = genai_request_attributes("chat", CHAT, server_address="127.0.0.1", server_port=8001)
    assert same_on_span(attrs)
    assert attrs == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "vllm",
        "gen_ai.request.model": "llama-3.1-8b",
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.seed": 7,
        "gen_ai.request.stop_sequences": ["\n\n"],
        "gen_ai.request.stream": True,
        "server.address": "127.0.0.1",
        "server.port": 8001,
        "user.id": "end-user-42",
        "session.id": "sess-9",
        "gen_ai.conversation.id": "sess-9",
    }
    assert span_name("chat", "llama-3.1-8b") == "chat llama-3.1-8b"
    assert span_name("text_completion", None) == "text_completion"


def test_request_attributes_skip_what_is_absent_or_ill_typed() -> None:
    payload = {"prompt": "hi", "max_tokens": True, "temperature": "hot", "stream": False, "n": 1, "user": 5}
    attrs = genai_request_attributes(
        "text_completion", payload, provider="openai", server_address=None, server_port=None
    )
    assert attrs == {"gen_ai.operation.name": "text_completion", "gen_ai.provider.name": "openai"}
    # The newer chat field wins over the old one; n != 1 is recorded; JSON output is named.
    attrs = genai_request_attributes(
        "chat",
        {"max_tokens": 5, "max_completion_tokens": 9, "n": 3, "response_format": {"type": "json_schema"}},
        server_address="h",
        server_port=None,
    )
    assert attrs["gen_ai.request.max_tokens"] == 9
    assert attrs["gen_ai.request.choice.count"] == 3
    assert attrs["gen_ai.output.type"] == "json"
    assert "server.port" not in attrs


def test_response_attributes_for_a_stream() -> None:
    start_ns = 1_752_384_000_000_000_000  # 2025-07-13T05:20:00Z
    attrs = genai_response_attributes(
        "chatcmpl-1",
        "llama-3.1-8b",
        ["stop", None],
        12,
        30,
        cost_usd=0.00042,
        ttft_s=0.5,
        start_time_ns=start_ns,
    )
    assert same_on_span(attrs)
    assert attrs["gen_ai.response.id"] == "chatcmpl-1"
    assert attrs["gen_ai.response.model"] == "llama-3.1-8b"
    assert attrs["gen_ai.response.finish_reasons"] == ["stop"]
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (12, 30)
    assert attrs["gen_ai.usage.cost"] == pytest.approx(0.00042)
    assert attrs["gen_ai.response.time_to_first_chunk"] == 0.5
    first = datetime.fromisoformat(str(attrs["langfuse.observation.completion_start_time"]))
    assert first.isoformat() == "2025-07-13T05:20:00.500000+00:00"


def test_response_attributes_without_optional_parts() -> None:
    assert genai_response_attributes(None, None, [], None, None) == {}
    attrs = genai_response_attributes("r", None, [], 1, 2, ttft_s=0.1, usage_estimated=True)
    assert "langfuse.observation.completion_start_time" not in attrs
    assert attrs["modelgate.usage.estimated"] is True
    assert error_attributes("timeout") == {"error.type": "timeout"}
    assert error_attributes("") == {"error.type": "_OTHER"}


def test_input_messages_follow_the_semconv_structure_and_redact() -> None:
    payload = {
        "messages": [
            *CHAT["messages"],
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "and this image"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "found +44 20 7946 0958"},
        ]
    }
    (value,) = input_messages_attribute(payload, redact=True).values()
    messages = json.loads(str(value))
    assert messages == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "My mail is [EMAIL], summarise."}]},
        {"role": "user", "parts": [{"type": "text", "content": "and this image"}, {"type": "image_url"}]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "c1", "name": "lookup", "arguments": "{}"}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "response": "found [PHONE]", "id": "c1"}]},
    ]
    raw = json.loads(str(input_messages_attribute(CHAT, redact=False)["gen_ai.input.messages"]))
    assert raw[1]["parts"][0]["content"] == "My mail is ann@corp.example, summarise."


def test_completion_prompt_and_truncation() -> None:
    attrs = input_messages_attribute({"prompt": ["x" * 50, "short"]}, redact=False, max_chars=10)
    (message,) = json.loads(str(attrs["gen_ai.input.messages"]))
    assert message["role"] == "user"
    assert [p["content"] for p in message["parts"]] == ["x" * 10 + "…[truncated]", "short"]
    assert input_messages_attribute({"prompt": [1, 2, 3]}, redact=True) == {}


def test_output_messages() -> None:
    (value,) = output_messages_attribute("reach me at bo@x.io", "length", redact=True).values()
    assert json.loads(str(value)) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "reach me at [EMAIL]"}],
            "finish_reason": "length",
        }
    ]
    (value,) = output_messages_attribute("cut", None, redact=False).values()
    assert json.loads(str(value))[0]["finish_reason"] == "error"


def test_churn_inference_attributes() -> None:
    attrs = churn_inference_attributes("2026-11-01-abc", 0.83, "churn")
    assert same_on_span(attrs)
    assert attrs == {
        "modelgate.model.name": "churn",
        "modelgate.model.version": "2026-11-01-abc",
        "modelgate.churn.score": 0.83,
        "modelgate.churn.prediction": "churn",
    }
