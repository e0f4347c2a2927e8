"""Replace e-mail addresses, phone numbers and payment card numbers in text before it leaves the process.

Used on prompt and completion content that the operator chose to capture on spans
(`tracing.capture_content: true`, `tracing.redact: true`). It is a safety net for the common shapes of
personal data, not a guarantee: names, street addresses and numbers written out in words pass through.

    >>> redact("mail jane.doe@example.com or call +44 20 7946 0958, card 4111 1111 1111 1111")
    'mail [EMAIL] or call [PHONE], card [CARD]'

What counts:
- e-mail: `local@domain.tld`;
- card: 13 to 19 digits, optionally grouped by single spaces or hyphens, that pass the Luhn check
  (so an order number that merely has 16 digits stays);
- phone: a number written with a leading `+` and 7 to 15 digits in all (E.164's limit), or the North
  American shapes `(415) 555-2671`, `415-555-2671`, `415.555.2671`, `415 555 2671`. Bare digit runs
  without `+` are left alone: they are far more often ids, amounts or dates than phone numbers.
"""

from __future__ import annotations

import re

__all__ = ["CARD", "EMAIL", "MAX_MATCH_CHARS", "PHONE", "luhn_valid", "redact"]

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
CARD = "[CARD]"
# Longer than any match below (an e-mail address is at most 64 + 1 + 8 × 64 + 63 characters here):
# redacting a prefix this much longer than what is kept never leaves a kept match half-seen.
MAX_MATCH_CHARS = 704

# Every repetition is bounded (RFC 5321: a local part is at most 64 characters, a domain label 63, and
# no real address has more than 8 labels), so each start position costs a bounded number of steps and
# the whole scan is linear. The unbounded `[…]+@` it replaces was quadratic on a run of `%` with no `@`.
_EMAIL_RE = re.compile(
    r"(?<![\w.+%-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,63}(?![A-Za-z0-9-])"
)
# Digits with at most one space or hyphen between them; the count is checked after stripping them.
_CARD_RE = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_PHONE_RE = re.compile(
    r"""
    (?<![\w+])
    (?:
        \+\d{1,3}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,5}){2,6}   # +CC then groups
      | (?:\(\d{3}\)[ ]?|\d{3}[ .-])\d{3}[ .-]\d{4}            # North American shapes
    )
    (?![\w])
    """,
    re.VERBOSE,
)


def redact(text: str) -> str:
    """`text` with e-mail addresses, card numbers and phone numbers replaced by placeholders.

    Linear in the length of `text` (every pattern's repetitions are bounded), about 0.1-0.25 µs a
    character here; callers with unbounded input redact a bounded prefix (gateway/tracing/content.py).
    """
    if not text:
        return text
    if "@" in text:
        text = _EMAIL_RE.sub(EMAIL, text)
    if _ANY_DIGIT.search(text) is None:
        return text
    # Cards before phones: a grouped card number must not be half-eaten as a phone number.
    text = _CARD_RE.sub(_card, text)
    return _PHONE_RE.sub(_phone, text)


_ANY_DIGIT = re.compile(r"\d")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a string of digits, as every payment card number carries."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    return CARD if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group(0)


def _phone(match: re.Match[str]) -> str:
    n = sum(ch.isdigit() for ch in match.group(0))
    return PHONE if 7 <= n <= 15 else match.group(0)
