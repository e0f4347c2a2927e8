"""The sliding-log arithmetic, without a server."""

from __future__ import annotations

import pytest

from gateway.ratelimit.window import (
    WINDOW_S,
    Refusal,
    check,
    format_reset,
    in_window,
    reset_after,
    retry_after_requests,
    retry_after_tokens,
)


def test_requests_fit_up_to_rpm_and_the_retry_is_when_the_blocking_entry_leaves() -> None:
    entries = [(0.0, 1), (10.0, 1), (20.0, 1)]
    assert check(entries[:2], now=30.0, cost=1, rpm=3, tpm=None) is None
    refusal = check(entries, now=30.0, cost=1, rpm=3, tpm=None)
    assert refusal == Refusal("rpm", 30.0)  # the entry at 0 leaves at 60
    # two over the limit (a lowered rpm): the second-oldest must leave too
    assert retry_after_requests(entries, 2, now=30.0) == 40.0


def test_tokens_are_summed_and_the_retry_frees_just_enough() -> None:
    entries = [(0.0, 500), (10.0, 300), (20.0, 100)]
    assert check(entries, now=30.0, cost=100, rpm=None, tpm=1000) is None
    # 900 used, 400 asked, 1000 allowed: the first entry (500) must leave, at 60
    assert check(entries, now=30.0, cost=400, rpm=None, tpm=1000) == Refusal("tpm", 30.0)
    # 900 used, 950 asked: after 500 and 300 leave, 100 + 950 > 1000 still; after all three it fits
    assert retry_after_tokens(entries, 1000, 950, now=30.0) == 50.0
    # more than the limit on its own: never
    assert check([], now=0.0, cost=1001, rpm=None, tpm=1000) == Refusal("tpm", None)


def test_the_window_is_sixty_seconds_exactly() -> None:
    entries = [(0.0, 1), (0.5, 1)]
    assert in_window(entries, WINDOW_S) == [(0.5, 1)]
    assert in_window(entries, WINDOW_S - 1e-6) == entries


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.25, "250ms"), (0.0, "0ms"), (1.0, "1s"), (6.2, "7s"), (59.5, "1m0s"), (90, "1m30s")],
)
def test_reset_is_written_like_openai(seconds: float, text: str) -> None:
    assert format_reset(seconds) == text


def test_reset_after_is_when_the_oldest_entry_leaves() -> None:
    assert reset_after(None, 100.0) == 0.0
    assert reset_after(50.0, 100.0) == 10.0
