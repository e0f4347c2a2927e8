"""Captured prompt and completion content for spans (`gen_ai.input.messages`, `gen_ai.output.messages`).

Opt-in (`tracing.capture_content: true`); with `tracing.redact: true` the text goes through
gateway/tracing/redact.py first. The convention's JSON string form, one text part per message.

The cost is bounded whatever the client sends, because a prompt can be a megabyte:
- each part keeps at most `max_chars` characters, and only a prefix of that length (plus a margin longer
  than any pattern redaction looks for, so nothing that survives the cut was seen half) is redacted;
- all parts together keep at most `max_total_chars`; past that, further messages are left out (each
  message also counts a little for its structure, so a hundred thousand empty messages stop early too);
- `*_off_loop` variants run the work in a worker thread when there is enough text to matter, so a
  large prompt never holds the event loop that serves every other tenant.

    attrs = await input_messages_off_loop(payload, redact=True)
    span.set_attributes(attrs)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from opentelemetry.util.types import AttributeValue

from gateway.tracing.redact import MAX_MATCH_CHARS
from gateway.tracing.redact import redact as redact_text

__all__ = [
    "MAX_CONTENT_CHARS",
    "MAX_CONTENT_TOTAL_CHARS",
    "OFF_LOOP_CHARS",
    "input_messages_attribute",
    "input_messages_off_loop",
    "output_messages_attribute",
    "output_messages_off_loop",
]

Attributes = dict[str, AttributeValue]

MAX_CONTENT_CHARS = 16_384
MAX_CONTENT_TOTAL_CHARS = 65_536
# Below this much text the work (redaction ~0.25 µs a character) costs less than a thread hop.
OFF_LOOP_CHARS = 8_192
_TRUNCATED = "…[truncated]"
_MESSAGE_COST = 16  # characters a message's structure counts against the total


class _Budget:
    def __init__(self, total: int) -> None:
        self.left = total

    def take(self, n: int) -> None:
        self.left -= n


def input_messages_attribute(
    payload: Mapping[str, Any],
    redact: bool,
    *,
    max_chars: int = MAX_CONTENT_CHARS,
    max_total_chars: int = MAX_CONTENT_TOTAL_CHARS,
) -> Attributes:
    """`gen_ai.input.messages` as a JSON string: chat `messages`, or a completion `prompt` as one user
    message. Empty dict when the payload has neither in a usable shape."""
    budget = _Budget(max_total_chars)
    messages: list[dict[str, Any]] = []
    raw = payload.get("messages")
    if isinstance(raw, list):
        for message in raw:
            if budget.left <= 0:
                break
            if isinstance(message, Mapping):
                budget.take(_MESSAGE_COST)
                messages.append(_chat_message(message, redact, max_chars, budget))
    else:
        prompt = payload.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else prompt if isinstance(prompt, list) else []
        parts = []
        for p in prompts:
            if budget.left <= 0:
                break
            if isinstance(p, str):
                budget.take(_MESSAGE_COST)
                parts.append(_text_part(p, redact, max_chars, budget))
        if parts:
            messages.append({"role": "user", "parts": parts})
    if not messages:
        return {}
    return {"gen_ai.input.messages": json.dumps(messages, ensure_ascii=False)}


def output_messages_attribute(
    text: str, finish_reason: str | None, redact: bool, *, max_chars: int = MAX_CONTENT_CHARS
) -> Attributes:
    """`gen_ai.output.messages` as a JSON string: one assistant message. The schema requires a finish
    reason; a stream that ended without one was cut off, recorded as `error`."""
    message = {
        "role": "assistant",
        "parts": [_text_part(text, redact, max_chars, _Budget(max_chars))],
        "finish_reason": finish_reason or "error",
    }
    return {"gen_ai.output.messages": json.dumps([message], ensure_ascii=False)}


async def input_messages_off_loop(payload: Mapping[str, Any], redact: bool) -> Attributes:
    """`input_messages_attribute`, in a worker thread when the payload holds enough text to matter."""
    if _text_size(payload, OFF_LOOP_CHARS) < OFF_LOOP_CHARS:
        return input_messages_attribute(payload, redact)
    return await asyncio.to_thread(input_messages_attribute, payload, redact)


async def output_messages_off_loop(text: str, finish_reason: str | None, redact: bool) -> Attributes:
    """`output_messages_attribute`, in a worker thread for a long completion."""
    if len(text) < OFF_LOOP_CHARS:
        return output_messages_attribute(text, finish_reason, redact)
    return await asyncio.to_thread(output_messages_attribute, text, finish_reason, redact)


def _text_size(payload: Mapping[str, Any], enough: int) -> int:
    """Characters of text in the payload, counted only until `enough` (the walk stops there)."""
    size = 0
    raw = payload.get("messages")
    items = raw if isinstance(raw, list) else payload.get("prompt")
    if isinstance(items, str):
        return len(items)
    if not isinstance(items, list):
        return 0
    for item in items:
        size += _MESSAGE_COST
        if isinstance(item, str):
            size += len(item)
        elif isinstance(item, Mapping):
            content = item.get("content")
            if isinstance(content, str):
                size += len(content)
            elif isinstance(content, list):
                size += sum(len(p.get("text") or "") for p in content[:64] if isinstance(p, Mapping)) + len(
                    content
                )
            calls = item.get("tool_calls")
            if isinstance(calls, list):
                size += 256 * len(calls)
        if size >= enough:
            break
    return size


def _chat_message(
    message: Mapping[str, Any], redact: bool, max_chars: int, budget: _Budget
) -> dict[str, Any]:
    role = message.get("role")
    out: dict[str, Any] = {"role": role if isinstance(role, str) else "user", "parts": []}
    parts: list[dict[str, Any]] = out["parts"]
    content = message.get("content")
    if role == "tool":
        response = content if isinstance(content, str) else _joined_text(content, max_chars)
        part: dict[str, Any] = {
            "type": "tool_call_response",
            "response": _clip(response, redact, max_chars, budget),
        }
        if isinstance(message.get("tool_call_id"), str):
            part["id"] = message["tool_call_id"]
        parts.append(part)
    elif isinstance(content, str):
        parts.append(_text_part(content, redact, max_chars, budget))
    elif isinstance(content, list):
        for item in content:
            if budget.left <= 0:
                break
            if not isinstance(item, Mapping):
                continue
            kind = item.get("type")
            if kind == "text" and isinstance(item.get("text"), str):
                parts.append(_text_part(item["text"], redact, max_chars, budget))
            elif isinstance(kind, str):
                # Images, audio, files: the part's kind only. Their bytes or URLs are no use in a trace
                # and may be large or private.
                budget.take(_MESSAGE_COST)
                parts.append({"type": kind[:64]})
    tool_calls = message.get("tool_calls")
    if isinstance(tool_calls, list):
        for call in tool_calls:
            if budget.left <= 0:
                break
            function = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(function, Mapping) and isinstance(function.get("name"), str):
                arguments = function.get("arguments")
                budget.take(_MESSAGE_COST)
                parts.append(
                    {
                        "type": "tool_call",
                        "id": call.get("id") if isinstance(call.get("id"), str) else None,
                        "name": _clip(function["name"], False, 256, budget),
                        "arguments": _clip(arguments, redact, max_chars, budget)
                        if isinstance(arguments, str)
                        else None,
                    }
                )
    if isinstance(message.get("name"), str):
        out["name"] = message["name"][:256]
    return out


def _text_part(text: str, redact: bool, max_chars: int, budget: _Budget) -> dict[str, Any]:
    return {"type": "text", "content": _clip(text, redact, max_chars, budget)}


def _clip(text: str, redact: bool, max_chars: int, budget: _Budget) -> str:
    """At most `max_chars` (and what the budget has left) of `text`, redacted when asked.

    Only a prefix is redacted: the kept length plus a margin longer than any match redaction looks
    for, so a match that straddles the cut is replaced whole before the cut, never half-seen.
    """
    keep = max(0, min(max_chars, budget.left))
    cut = len(text) > keep
    head = text[: keep + MAX_MATCH_CHARS] if cut else text
    if redact:
        head = redact_text(head)
    out = head[:keep] + _TRUNCATED if cut or len(head) > keep else head
    budget.take(len(out))
    return out


def _joined_text(content: Any, max_chars: int) -> str:
    if isinstance(content, list):
        # Joined only up to what can be kept (plus the redaction margin): the rest would be cut anyway.
        out: list[str] = []
        size = 0
        for p in content:
            if isinstance(p, Mapping) and isinstance(p.get("text"), str):
                out.append(p["text"])
                size += len(p["text"])
                if size > max_chars + MAX_MATCH_CHARS:
                    break
        return "".join(out)
    return ""
