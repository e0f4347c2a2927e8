"""PII redaction of captured prompt/completion content: what is replaced and what must stay."""

from __future__ import annotations

import pytest

from gateway.tracing.redact import luhn_valid, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to jane.doe+tag@mail.example.co.uk today", "write to [EMAIL] today"),
        ("a@b.io,c@d.org", "[EMAIL],[EMAIL]"),
        ("visa 4111 1111 1111 1111.", "visa [CARD]."),
        ("mc 5500-0000-0000-0004 exp 12/29", "mc [CARD] exp 12/29"),
        ("amex 378282246310005", "amex [CARD]"),
        ("19 digits 6011111111111111110", "19 digits [CARD]"),
        ("call +44 20 7946 0958 now", "call [PHONE] now"),
        ("call +1 (415) 555-2671", "call [PHONE]"),
        ("call +14155552671", "call [PHONE]"),
        ("call (415) 555-2671 or 415-555-2671 or 415.555.2671", "call [PHONE] or [PHONE] or [PHONE]"),
        ("mixed: jo@x.com, +49 30 901820, 4012888888881881", "mixed: [EMAIL], [PHONE], [CARD]"),
    ],
)
def test_personal_data_is_replaced(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "order 4111 1111 1111 1112 shipped",  # 16 digits, fails the Luhn check
        "id 123456789012",  # 12 digits: too short for a card, no + for a phone
        "on 2024-01-15 at 10:30",  # a date is not a phone number
        "version 1.2.3 and 3.14159",
        "the sum is 1,250,000.00 USD",
        "user@localhost has no top-level domain",
        "tel 12345",  # too few digits
        "",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_luhn() -> None:
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert luhn_valid("4111111111111111")
