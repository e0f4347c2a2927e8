"""UTC day and month windows: keys, ends, and the refusal of naive clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from gateway.budget.windows import day_key, ends_of_keys, month_key, window_ends, window_keys


def ts(year: int, month: int, day: int) -> float:
    return datetime(year, month, day, tzinfo=UTC).timestamp()


def test_keys_change_exactly_at_utc_midnight():
    last = datetime(2026, 3, 14, 23, 59, 59, 999_999, tzinfo=UTC)
    assert window_keys(last) == ("2026-03-14", "2026-03")
    assert window_keys(last + timedelta(microseconds=1)) == ("2026-03-15", "2026-03")


def test_keys_follow_utc_whatever_the_clocks_zone():
    tokyo = timezone(timedelta(hours=9))
    new_york = timezone(timedelta(hours=-5))
    assert day_key(datetime(2026, 4, 1, 8, 59, tzinfo=tokyo)) == "2026-03-31"
    assert month_key(datetime(2026, 4, 1, 8, 59, tzinfo=tokyo)) == "2026-03"
    assert day_key(datetime(2026, 12, 31, 19, 0, tzinfo=new_york)) == "2027-01-01"
    assert month_key(datetime(2026, 12, 31, 19, 0, tzinfo=new_york)) == "2027-01"


def test_naive_clocks_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        day_key(datetime(2026, 3, 14, 12, 0))


@pytest.mark.parametrize(
    ("now", "day_end", "month_end"),
    [
        (datetime(2026, 3, 14, 12, 0, tzinfo=UTC), ts(2026, 3, 15), ts(2026, 4, 1)),
        (datetime(2026, 1, 31, 23, 59, tzinfo=UTC), ts(2026, 2, 1), ts(2026, 2, 1)),
        (datetime(2026, 12, 31, 0, 0, tzinfo=UTC), ts(2027, 1, 1), ts(2027, 1, 1)),
        (datetime(2028, 2, 28, 10, 0, tzinfo=UTC), ts(2028, 2, 29), ts(2028, 3, 1)),  # leap year
        (datetime(2026, 2, 28, 10, 0, tzinfo=UTC), ts(2026, 3, 1), ts(2026, 3, 1)),
    ],
)
def test_windows_end_at_the_next_midnight_and_the_next_first(now, day_end, month_end):
    assert window_ends(now) == (day_end, month_end)
    assert ends_of_keys(*window_keys(now)) == (day_end, month_end)
