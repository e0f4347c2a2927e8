"""Progress and notes on stderr for the monitoring jobs, so stdout stays clean for the JSON summary.

On a terminal the progress line redraws in place; in a log file (a CronJob) it prints at most one line per
10 % so the log stays short.

    progress = RowProgress("reading window", sys.stderr)
    read_window(uri, days=7, progress=progress)
"""

from __future__ import annotations

import time
from typing import TextIO

__all__ = ["Notes", "RowProgress"]


class Notes:
    """`say(msg)`: one line on the stream, prefixed with the command name."""

    def __init__(self, prefix: str, stream: TextIO) -> None:
        self.prefix = prefix
        self.stream = stream

    def __call__(self, message: str) -> None:
        print(f"{self.prefix}: {message}", file=self.stream, flush=True)


class RowProgress:
    """A `ProgressFn` (`progress(done, total)`) drawing `label: 1,234,567/7,000,000 rows (17%)`."""

    def __init__(self, label: str, stream: TextIO, *, min_interval: float = 0.25) -> None:
        self.label = label
        self.stream = stream
        self.min_interval = min_interval
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last_draw = 0.0
        self._last_decile = -1

    def __call__(self, done: int, total: int) -> None:
        pct = 100 * done // total if total else 100
        finished = done >= total
        line = f"{self.label}: {done:,}/{total:,} rows ({pct}%)"
        if self._tty:
            now = time.monotonic()
            if finished or now - self._last_draw >= self.min_interval:
                self._last_draw = now
                end = "\n" if finished else ""
                print(f"\r{line}", end=end, file=self.stream, flush=True)
        elif pct // 10 > self._last_decile:
            self._last_decile = pct // 10
            print(line, file=self.stream, flush=True)
