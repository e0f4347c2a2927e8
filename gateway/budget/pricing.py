"""Token prices and the cost arithmetic the budget ledger charges: pure functions, no I/O.

The LLM route charges a request twice. Before forwarding, it reserves the *worst case*:

    >>> price = Price(input_per_mtok=3.0, output_per_mtok=15.0)
    >>> tokens_in = estimate_input_tokens({"messages": [{"role": "user", "content": "Hi"}]})
    >>> hold = worst_case_cost(tokens_in, output_tokens_bound=256, price=price)

After the upstream answers, it settles to the real cost from the upstream's `usage`:

    >>> cost_usd(input_tokens=12, output_tokens=80, price=price)
    0.001236

The ledger's guarantee (committed spend + outstanding reservations never exceed the budget) is only as good
as the reservation: `estimate_input_tokens` therefore deliberately OVER-estimates the prompt, and the output
side is bounded exactly by what the forwarded body allows (`LLMRequest.output_bound`). Settlement always
uses the upstream's real usage, so over-estimating costs nothing but head-room while the request runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Price", "cost_usd", "estimate_input_tokens", "worst_case_cost"]

_PER_MTOK = 1_000_000

# Chat templates wrap every message in role headers and separators (OpenAI counts ~4 tokens, Llama 3's
# `<|start_header_id|>role<|end_header_id|>\n\n…<|eot_id|>` ~5); 8 leaves margin for other templates.
MESSAGE_OVERHEAD_TOKENS = 8
# The template's fixed prefix and the assistant turn it opens (BOS, `<|start_header_id|>assistant…`).
PROMPT_OVERHEAD_TOKENS = 8
# Typical BPE vocabularies average ~4 ASCII characters per token in English prose and ~3.2–3.8 in code;
# dividing by 3 over-estimates both.
ASCII_CHARS_PER_TOKEN = 3
# A chat content part that is not text (an image, audio or video) is rendered by the model's processor
# into a number of tokens the gateway cannot compute; this stands in for each (Qwen2-VL and Llama 3.2
# Vision stay under it at their default resolutions). docs/budgets.md lists it among the limits.
MEDIA_PART_TOKENS = 4096
_MEDIA_PART_TYPES = frozenset({"image_url", "input_audio", "audio_url", "video_url", "image", "file"})
# Request fields, besides messages and tools, that chat templates render into the prompt.
_TEMPLATE_FIELDS = ("tools", "functions", "documents", "chat_template_kwargs")


@dataclass(frozen=True)
class Price:
    """USD per million tokens, as providers quote them."""

    input_per_mtok: float
    output_per_mtok: float

    def __post_init__(self) -> None:
        for name in ("input_per_mtok", "output_per_mtok"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"Price.{name} must be a finite number >= 0, got {value!r}")


def cost_usd(input_tokens: int, output_tokens: int, price: Price) -> float:
    """The cost of a request that used these tokens."""
    if input_tokens < 0 or output_tokens < 0:
        raise ValueError(f"token counts must be >= 0, got input={input_tokens} output={output_tokens}")
    return (input_tokens * price.input_per_mtok + output_tokens * price.output_per_mtok) / _PER_MTOK


def worst_case_cost(input_tokens_estimate: int, output_tokens_bound: int, price: Price) -> float:
    """The most a request can cost: the prompt estimate plus every output token it may generate.

    `output_tokens_bound` is what the upstream can generate as the request is forwarded: for vLLM,
    prompts × max(n, best_of) × max_tokens (`LLMRequest.output_bound`), with the limit written into the body.
    """
    if output_tokens_bound < 0:
        raise ValueError(f"output_tokens_bound must be >= 0, got {output_tokens_bound}")
    return cost_usd(input_tokens_estimate, output_tokens_bound, price)


def _text_tokens(text: str) -> int:
    """An over-estimate of the tokens in `text`, computed with C-speed string operations only.

    ASCII letters and punctuation: chars / 3. Digits: one token each (Llama-family tokenizers split numbers
    into single digits). Non-ASCII characters: their UTF-8 length minus one (a byte-level BPE never needs
    more than one token per byte; accented Latin then costs 1, CJK 2, emoji 3 — above what real vocabularies
    use for common text, at or near the bound for rare characters).
    """
    n_chars = len(text)
    if text.isascii():
        n_ascii, extra_bytes = n_chars, 0
    else:
        n_ascii = len(text.encode("ascii", "ignore"))
        extra_bytes = len(text.encode("utf-8", "surrogatepass")) - n_chars
    digits = sum(map(text.count, "0123456789"))
    return math.ceil((n_ascii - digits) / ASCII_CHARS_PER_TOKEN) + digits + extra_bytes


def _leaf_tokens(value: Any, *, with_keys: bool) -> int:
    """Tokens of every string inside a JSON value (message content parts, tool calls, names).

    `with_keys` counts mapping keys too: a tool's JSON schema is rendered into the prompt, property names
    included, while a message's own keys (`role`, `content`) are replaced by the chat template.
    """
    if isinstance(value, str):
        return _text_tokens(value)
    if isinstance(value, Mapping):
        if value.get("type") in _MEDIA_PART_TYPES:
            return MEDIA_PART_TOKENS + sum(_leaf_tokens(v, with_keys=False) for v in value.values())
        total = sum(_leaf_tokens(v, with_keys=with_keys) for v in value.values())
        return total + (sum(_text_tokens(str(k)) for k in value) if with_keys else 0)
    if isinstance(value, list | tuple):
        return sum(_leaf_tokens(v, with_keys=with_keys) for v in value)
    if value is None or isinstance(value, bool):
        return 0
    # Numbers rendered into the prompt (tool arguments, schema bounds): their digits.
    return _text_tokens(str(value))


def _prompt_tokens(prompt: Any) -> int:
    """A completion `prompt`: a string, a list of strings, token ids, or a list of token-id lists.

    Each text prompt gets the template overhead (vLLM adds BOS and special tokens per prompt); token ids
    are counted exactly.
    """
    if isinstance(prompt, str):
        return _text_tokens(prompt) + PROMPT_OVERHEAD_TOKENS
    if isinstance(prompt, list):
        total = 0
        for item in prompt:
            if isinstance(item, str):
                total += _text_tokens(item) + PROMPT_OVERHEAD_TOKENS
            elif isinstance(item, int) and not isinstance(item, bool):
                total += 1  # already a token id: counted exactly
            elif isinstance(item, list):
                total += len(item)
            else:
                raise ValueError(f"prompt items must be strings, token ids or token-id lists, got {item!r}")
        return total
    raise ValueError(f"prompt must be a string or a list, got {type(prompt).__name__}")


def estimate_input_tokens(payload: Mapping[str, Any]) -> int:
    """A conservative (over-)estimate of the prompt tokens of a chat or completion request body.

    Chat: every string in every message (role, content or content parts, name, tool calls) plus a per-message
    template overhead, `MEDIA_PART_TOKENS` per image/audio/video part, plus the fields the template renders
    into the prompt (`tools`, `functions`, `documents`, `chat_template_kwargs`). Completion: every prompt
    with its overhead (token ids counted exactly) and the `suffix`. It must over-estimate for the budget
    guarantee to hold; settlement then charges the upstream's real `usage.prompt_tokens`.
    """
    if "messages" in payload:
        messages = payload["messages"]
        if not isinstance(messages, list):
            raise ValueError("messages must be a list")
        total = sum(MESSAGE_OVERHEAD_TOKENS + _leaf_tokens(m, with_keys=False) for m in messages)
        for key in _TEMPLATE_FIELDS:
            if payload.get(key):
                total += _leaf_tokens(payload[key], with_keys=True) + MESSAGE_OVERHEAD_TOKENS
    elif "prompt" in payload:
        total = _prompt_tokens(payload["prompt"])
        if isinstance(payload.get("suffix"), str):
            total += _text_tokens(payload["suffix"])  # fill-in-the-middle: the suffix is prompt too
        return total
    else:
        raise ValueError("request body has neither `messages` nor `prompt`")
    return total + PROMPT_OVERHEAD_TOKENS
