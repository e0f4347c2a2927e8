"""The UTC budget windows: which day and month a moment falls in, and when those windows end.

A window is named by its key, so a new window starts at zero by itself: nothing resets a counter, spend is
simply filed under the new key.

    >>> from datetime import UTC, datetime
    >>> t = datetime(2026, 1, 31, 23, 59, tzinfo=UTC)
    >>> day_key(t), month_key(t)
    ('2026-01-31', '2026-01')
    >>> window_ends(t)
    (1769904000.0, 1769904000.0)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["day_key", "ends_of_keys", "month_key", "window_ends", "window_keys"]


def _utc(now: datetime) -> datetime:
    if now.tzinfo is UTC:  # the common case, and the cheap one
        return now
    # A naive datetime would silently be read as local time and shift the windows: refuse it.
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"budget clock must be timezone-aware, got naive {now!r}")
    return now.astimezone(UTC)


def window_keys(now: datetime) -> tuple[str, str]:
    """(`YYYY-MM-DD`, `YYYY-MM`) of the UTC day and month `now` falls in."""
    t = _utc(now)
    # f-strings rather than strftime: this runs on every reserve, and strftime is ~4x slower.
    month = f"{t.year:04d}-{t.month:02d}"
    return f"{month}-{t.day:02d}", month


def day_key(now: datetime) -> str:
    """`YYYY-MM-DD` of the UTC day `now` falls in."""
    return window_keys(now)[0]


def month_key(now: datetime) -> str:
    """`YYYY-MM` of the UTC month `now` falls in."""
    return window_keys(now)[1]


def window_ends(now: datetime) -> tuple[float, float]:
    """Epoch seconds at which `now`'s UTC day and UTC month end (the next midnight, the next 1st)."""
    t = _utc(now)
    day_start = t.replace(hour=0, minute=0, second=0, microsecond=0)
    day_end = day_start + timedelta(days=1)
    month_start = day_start.replace(day=1)
    month_end = (month_start + timedelta(days=32)).replace(day=1)
    return day_end.timestamp(), month_end.timestamp()


def ends_of_keys(day: str, month: str) -> tuple[float, float]:
    """Like `window_ends`, from the keys a reservation carries rather than from a clock."""
    # Slicing instead of strptime: this runs on every settle, and strptime costs ~10 µs.
    day_start = datetime(int(day[0:4]), int(day[5:7]), int(day[8:10]), tzinfo=UTC)
    month_start = datetime(int(month[0:4]), int(month[5:7]), 1, tzinfo=UTC)
    return window_ends(day_start)[0], window_ends(month_start)[1]
