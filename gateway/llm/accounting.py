"""What a response cost and how fast it came: pure bookkeeping over OpenAI responses and SSE streams.

`StreamMeter.feed(line)` looks at each upstream SSE line once, records time to first token, the gaps
between chunks, the final usage and finish reasons, and says whether the line goes on to the client (the
usage-only chunk is dropped when the client did not ask for it). When the upstream reports no usage (a
stream cut short, an upstream that never sends it), `estimate_usage` is the one estimate used everywhere,
marked as estimated.
Spec: https://platform.openai.com/docs/api-reference/chat/streaming
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["StreamMeter", "Usage", "estimate_usage", "usage_from_response"]

# Few tokenizers average more characters per token than this, even over code or URLs.
_MAX_CHARS_PER_TOKEN = 8


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    estimated: bool = False


def _usage(obj: Any) -> Usage | None:
    if not isinstance(obj, dict):
        return None
    u = obj.get("usage")
    if not isinstance(u, dict):
        return None
    pt, ct = u.get("prompt_tokens"), u.get("completion_tokens")
    if isinstance(pt, int) and isinstance(ct, int):
        return Usage(pt, ct)
    return None


def estimate_usage(input_estimate: int, text_chars: int, text_chunks: int, output_bound: int) -> Usage:
    """Usage when the upstream reported none: the input estimate the reservation used, and for the output
    the chunks that carried text — exact for vLLM, which streams one token per chunk by default — or, when
    chunks carry several tokens (`--stream-interval`), at least the text's length / 8; never more than the
    request could generate."""
    output = max(text_chunks, math.ceil(text_chars / _MAX_CHARS_PER_TOKEN))
    return Usage(input_estimate, min(output, output_bound), estimated=True)


def usage_from_response(doc: Any) -> Usage | None:
    """The `usage` of a non-streamed response, or None when the upstream sent none."""
    return _usage(doc)


def _text_of(choice: dict[str, Any]) -> str:
    delta = choice.get("delta")
    if isinstance(delta, dict):
        content = delta.get("content")
        return content if isinstance(content, str) else ""
    text = choice.get("text")
    return text if isinstance(text, str) else ""


@dataclass
class StreamMeter:
    client_wants_usage: bool
    keep_text: bool = False
    started: float = field(default_factory=time.perf_counter)
    first_token_at: float | None = None
    last_token_at: float | None = None
    gaps: list[float] = field(default_factory=list)
    chunks_with_text: int = 0
    text_chars: int = 0
    usage: Usage | None = None
    finish_reasons: list[str] = field(default_factory=list)
    response_id: str | None = None
    response_model: str | None = None
    done: bool = False
    text_parts: list[str] = field(default_factory=list)

    def feed(self, line: bytes) -> bool:
        """Record one SSE line; True when it should be forwarded to the client."""
        if not line.startswith(b"data:"):
            return True  # blank separators, comments, event names: pass through
        data = line[5:].strip()
        if data == b"[DONE]":
            self.done = True
            return True
        try:
            chunk = json.loads(data)
        except ValueError:
            return True  # not ours to judge; the client sees what vLLM sent
        if not isinstance(chunk, dict):
            return True
        if self.response_id is None:
            self.response_id = chunk.get("id")
            self.response_model = chunk.get("model")
        usage = _usage(chunk)
        if usage is not None:
            self.usage = usage
        choices = chunk.get("choices")
        if not choices:
            # The usage-only chunk (include_usage): forwarded only when the client asked for it.
            return self.client_wants_usage or usage is None
        now = time.perf_counter()
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            text = _text_of(choice)
            if text:
                self.chunks_with_text += 1
                self.text_chars += len(text)
                if self.first_token_at is None:
                    self.first_token_at = now
                elif self.last_token_at is not None:
                    self.gaps.append(now - self.last_token_at)
                self.last_token_at = now
                if self.keep_text:
                    self.text_parts.append(text)
            reason = choice.get("finish_reason")
            if isinstance(reason, str):
                self.finish_reasons.append(reason)
        return True

    @property
    def ttft(self) -> float | None:
        return None if self.first_token_at is None else self.first_token_at - self.started

    @property
    def text(self) -> str:
        return "".join(self.text_parts)
