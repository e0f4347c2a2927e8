"""Token pricing and the prompt estimate: pure arithmetic checked against hand-worked numbers."""

from __future__ import annotations

import math
from typing import Any

import pytest

from gateway.budget.pricing import (
    MEDIA_PART_TOKENS,
    MESSAGE_OVERHEAD_TOKENS,
    PROMPT_OVERHEAD_TOKENS,
    Price,
    cost_usd,
    estimate_input_tokens,
    worst_case_cost,
)

# $3 per million input tokens, $15 per million output tokens
PRICE = Price(input_per_mtok=3.0, output_per_mtok=15.0)


def test_cost_is_tokens_times_price_per_million():
    assert cost_usd(1_000_000, 0, PRICE) == 3.0
    assert cost_usd(0, 1_000_000, PRICE) == 15.0
    # 1,000 in: 1,000 x 3 / 1e6 = $0.003; 500 out: 500 x 15 / 1e6 = $0.0075
    assert cost_usd(1_000, 500, PRICE) == pytest.approx(0.0105, rel=1e-12)
    assert cost_usd(0, 0, PRICE) == 0.0
    assert cost_usd(10, 10, Price(0.0, 0.0)) == 0.0


def test_worst_case_prices_the_input_estimate_and_the_output_bound():
    assert worst_case_cost(1_000, 500, PRICE) == pytest.approx(0.0105, rel=1e-12)
    # 3 prompts x n=2 x max_tokens 500 = 3,000 output tokens x $15/M = $0.045, plus $0.003 of input
    assert worst_case_cost(1_000, 3 * 2 * 500, PRICE) == pytest.approx(0.048, rel=1e-12)
    assert worst_case_cost(1_000, 0, PRICE) == pytest.approx(0.003, rel=1e-12)


@pytest.mark.parametrize(
    "call",
    [
        lambda: cost_usd(-1, 0, PRICE),
        lambda: cost_usd(0, -1, PRICE),
        lambda: worst_case_cost(10, -1, PRICE),
        lambda: Price(-1.0, 1.0),
        lambda: Price(1.0, math.nan),
        lambda: Price(math.inf, 1.0),
    ],
)
def test_bad_numbers_are_refused(call):
    with pytest.raises(ValueError):
        call()


def chat(*contents: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": c} for c in contents]}


def text_part_of_estimate(payload: dict[str, Any]) -> int:
    """The estimate minus the fixed template overheads: what the text itself was counted as."""
    n_messages = len(payload.get("messages", []))
    return estimate_input_tokens(payload) - PROMPT_OVERHEAD_TOKENS - n_messages * MESSAGE_OVERHEAD_TOKENS


def test_english_prose_is_counted_above_the_usual_four_characters_per_token():
    prose = "The quick brown fox jumps over the lazy dog while the cat watches from the window. " * 20
    counted = text_part_of_estimate(chat(prose)) - math.ceil(len("user") / 3)
    assert counted >= len(prose) / 3.0
    assert counted > len(prose) / 4.0 * 1.3  # at least 30 % head-room over a typical BPE


def test_digits_non_latin_scripts_and_emoji_are_counted_near_their_worst_case():
    digits = "0123456789" * 30  # Llama-family tokenizers split numbers into single digits
    assert text_part_of_estimate({"prompt": digits}) >= len(digits)
    cjk = "预算检查必须在调用上游之前完成" * 10  # common CJK: ~1-1.5 tokens per character
    assert text_part_of_estimate({"prompt": cjk}) >= 2 * len(cjk)
    emoji = "🙂🚀" * 50  # 4 UTF-8 bytes each; byte-level BPE needs at most 4 tokens, usually 1-3
    assert text_part_of_estimate({"prompt": emoji}) >= 3 * len(emoji)
    accented = "déjà vu à côté" * 20
    assert text_part_of_estimate({"prompt": accented}) > len(accented) / 3


def test_every_message_part_and_tool_definition_is_counted():
    base = estimate_input_tokens(chat("hello"))
    assert estimate_input_tokens(chat("hello", "again")) > base + MESSAGE_OVERHEAD_TOKENS
    parts = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "describe this in detail please"},
                    {"type": "text", "text": "and then that"},
                ],
            }
        ]
    }
    assert text_part_of_estimate(parts) >= math.ceil(len("describe this in detail please and then that") / 3)
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup_invoice",
                "parameters": {"type": "object", "properties": {"invoice_number": {"type": "string"}}},
            },
        }
    ]
    with_tools = estimate_input_tokens({**chat("hello"), "tools": tools})
    # the schema's property names are rendered into the prompt, so they count too
    assert with_tools - base >= math.ceil(len("invoice_number") / 3) + math.ceil(len("lookup_invoice") / 3)


def test_completion_prompts_as_text_lists_and_token_ids():
    # token ids are the prompt exactly: vLLM adds no special tokens to them
    assert estimate_input_tokens({"prompt": [1, 2, 3, 4]}) == 4
    assert estimate_input_tokens({"prompt": [[1, 2], [3]]}) == 3
    one = estimate_input_tokens({"prompt": "abcdef"})
    assert one == 2 + PROMPT_OVERHEAD_TOKENS  # 6 ASCII letters / 3
    # each text prompt gets its own BOS and special tokens
    assert estimate_input_tokens({"prompt": ["abcdef", "abcdef"]}) == 2 * (2 + PROMPT_OVERHEAD_TOKENS)
    assert estimate_input_tokens({"prompt": "ab", "suffix": "abcdef"}) == 1 + 2 + PROMPT_OVERHEAD_TOKENS


def test_media_parts_and_template_fields_count_towards_the_prompt():
    text_only = estimate_input_tokens(
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}
    )
    image = {"type": "image_url", "image_url": {"url": "https://example.invalid/cat.png"}}
    with_image = estimate_input_tokens(
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}, image]}]}
    )
    assert with_image - text_only >= MEDIA_PART_TOKENS
    docs = estimate_input_tokens(
        {"messages": [{"role": "user", "content": "x"}], "documents": [{"text": "a" * 300}]}
    )
    assert docs - estimate_input_tokens({"messages": [{"role": "user", "content": "x"}]}) >= 100


@pytest.mark.parametrize(
    "payload",
    [{}, {"messages": "hi"}, {"prompt": 42}, {"prompt": [1.5]}, {"prompt": [{"text": "x"}]}],
)
def test_a_body_without_a_readable_prompt_is_refused(payload):
    with pytest.raises(ValueError):
        estimate_input_tokens(payload)
