"""Span attributes for LLM calls (OpenTelemetry GenAI semantic conventions v1.41) and churn predictions.

Pure functions from request/response data to attribute dicts; the route that owns the span sets them.
Spec: https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/ (inference span, kind CLIENT,
name `{gen_ai.operation.name} {gen_ai.request.model}`). Langfuse reads the same spans through its OTLP
endpoint: `gen_ai.request.*` become the model parameters, `gen_ai.usage.*` the usage, `gen_ai.usage.cost`
the cost, `user.id` / `session.id` the user and session, and `langfuse.observation.completion_start_time`
the time to first token.

    >>> attrs = genai_request_attributes("chat", {"model": "m", "max_tokens": 8, "stream": True},
    ...                                  server_address="127.0.0.1", server_port=8001)
    >>> span_name("chat", "m"), attrs["gen_ai.request.stream"]
    ('chat m', True)

Prompt and completion content (`gen_ai.input.messages`, `gen_ai.output.messages`) is opt-in and lives in
gateway/tracing/content.py (re-exported here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from opentelemetry.util.types import AttributeValue

from gateway.tracing.content import (
    MAX_CONTENT_CHARS,
    MAX_CONTENT_TOTAL_CHARS,
    input_messages_attribute,
    output_messages_attribute,
)

__all__ = [
    "MAX_CONTENT_CHARS",
    "MAX_CONTENT_TOTAL_CHARS",
    "TENANT_ATTRIBUTE",
    "Operation",
    "churn_inference_attributes",
    "error_attributes",
    "genai_request_attributes",
    "genai_response_attributes",
    "input_messages_attribute",
    "output_messages_attribute",
    "span_name",
]

Operation = Literal["chat", "text_completion"]
Attributes = dict[str, AttributeValue]

# Our own namespace for the tenant: it is not the end user (`user.id`), which is the OpenAI `user` field.
TENANT_ATTRIBUTE = "modelgate.tenant"


def span_name(operation: Operation, model: str | None) -> str:
    """`chat llama-3-8b`; just the operation when the request names no model."""
    return f"{operation} {model}" if model else operation


def genai_request_attributes(
    operation: Operation,
    payload: Mapping[str, Any],
    *,
    provider: str = "vllm",
    server_address: str | None,
    server_port: int | None,
) -> Attributes:
    """Attributes known before the upstream call: set them when the span starts (samplers read them).

    `payload` is the OpenAI-shaped request body as the client sent it; unknown or ill-typed fields are
    skipped, never raised on (validation is the route's job, telemetry must not fail a request).
    """
    attrs: Attributes = {"gen_ai.operation.name": operation, "gen_ai.provider.name": provider}
    model = payload.get("model")
    if isinstance(model, str) and model:
        attrs["gen_ai.request.model"] = model
    # Chat requests may use the newer name; completions only know max_tokens.
    max_tokens = _int(payload.get("max_completion_tokens"))
    if max_tokens is None:
        max_tokens = _int(payload.get("max_tokens"))
    if max_tokens is not None:
        attrs["gen_ai.request.max_tokens"] = max_tokens
    for field, name in (
        ("temperature", "gen_ai.request.temperature"),
        ("top_p", "gen_ai.request.top_p"),
        ("frequency_penalty", "gen_ai.request.frequency_penalty"),
        ("presence_penalty", "gen_ai.request.presence_penalty"),
    ):
        value = _float(payload.get(field))
        if value is not None:
            attrs[name] = value
    top_k = _float(payload.get("top_k"))  # a vLLM extension
    if top_k is not None:
        attrs["gen_ai.request.top_k"] = top_k
    seed = _int(payload.get("seed"))
    if seed is not None:
        attrs["gen_ai.request.seed"] = seed
    n = _int(payload.get("n"))
    if n is not None and n != 1:
        attrs["gen_ai.request.choice.count"] = n
    stop = payload.get("stop")
    if isinstance(stop, str):
        attrs["gen_ai.request.stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop and all(isinstance(s, str) for s in stop):
        attrs["gen_ai.request.stop_sequences"] = list(stop)
    # The convention: set if and only if the request streams.
    if payload.get("stream") is True:
        attrs["gen_ai.request.stream"] = True
    response_format = payload.get("response_format")
    if isinstance(response_format, Mapping):
        kind = response_format.get("type")
        if kind in ("json_object", "json_schema"):
            attrs["gen_ai.output.type"] = "json"
        elif kind == "text":
            attrs["gen_ai.output.type"] = "text"
    if server_address:
        attrs["server.address"] = server_address
        if server_port is not None:
            attrs["server.port"] = server_port
    # Langfuse's user and session: the OpenAI `user` field names the end user.
    user = payload.get("user")
    if isinstance(user, str) and user:
        attrs["user.id"] = user
    metadata = payload.get("metadata")
    if isinstance(metadata, Mapping):
        session = metadata.get("session_id")
        if isinstance(session, str) and session:
            attrs["session.id"] = session
            attrs["gen_ai.conversation.id"] = session
    return attrs


def genai_response_attributes(
    response_id: str | None,
    response_model: str | None,
    finish_reasons: Sequence[str | None],
    input_tokens: int | None,
    output_tokens: int | None,
    *,
    cost_usd: float | None = None,
    ttft_s: float | None = None,
    start_time_ns: int | None = None,
    usage_estimated: bool = False,
) -> Attributes:
    """Attributes known when the response (or the stream) has ended.

    `ttft_s` is the time to the first content chunk, for streaming requests; with `start_time_ns` (the
    span's start, epoch nanoseconds: `span.start_time` on an SDK span) it also gives Langfuse's
    completion start time.
    `usage_estimated` marks token counts the gateway counted itself because the upstream sent none.
    """
    attrs: Attributes = {}
    if response_id:
        attrs["gen_ai.response.id"] = response_id
    if response_model:
        attrs["gen_ai.response.model"] = response_model
    reasons = [r for r in finish_reasons if r]
    if reasons:
        attrs["gen_ai.response.finish_reasons"] = reasons
    if input_tokens is not None:
        attrs["gen_ai.usage.input_tokens"] = input_tokens
    if output_tokens is not None:
        attrs["gen_ai.usage.output_tokens"] = output_tokens
    if usage_estimated:
        attrs["modelgate.usage.estimated"] = True
    if cost_usd is not None:
        attrs["gen_ai.usage.cost"] = float(cost_usd)
    if ttft_s is not None:
        attrs["gen_ai.response.time_to_first_chunk"] = float(ttft_s)
        if start_time_ns is not None:
            first = datetime.fromtimestamp(start_time_ns / 1e9 + ttft_s, tz=UTC)
            attrs["langfuse.observation.completion_start_time"] = first.isoformat(timespec="microseconds")
    return attrs


def error_attributes(error_type: str) -> Attributes:
    """`error.type`: a low-cardinality class of failure (`timeout`, `upstream_5xx`, an exception name)."""
    return {"error.type": error_type or "_OTHER"}


def churn_inference_attributes(model_version: str, score: float, predicted_class: str) -> Attributes:
    """Attributes of one churn prediction (our own namespace: there is no convention for tabular models)."""
    return {
        "modelgate.model.name": "churn",
        "modelgate.model.version": model_version,
        "modelgate.churn.score": float(score),
        "modelgate.churn.prediction": predicted_class,
    }


def _int(value: Any) -> int | None:
    # bool is an int subclass; `"max_tokens": true` is not a number.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
