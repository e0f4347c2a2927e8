"""Progress and notes on stderr for every job command (drift, labels, performance, eval), so stdout stays
clean for the JSON summary.

On a terminal a progress line redraws in place; in a log file (a CronJob, CI) it prints at most one line
per 10 % so the log stays short. Two shapes share that policy (`_ProgressLine`):

    progress = RowProgress("reading window", sys.stderr)   # rows read: progress(done, total)
    read_window(uri, days=7, progress=progress)

    bar = ItemProgress(total=156, label="core")            # items scored, counted by outcome
    bar.advance("pass"); ...; bar.close()
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import TextIO

__all__ = ["ItemProgress", "Notes", "RowProgress"]

_WIDTH = 30


class Notes:
    """`say(msg)`: one line on the stream, prefixed with the command name."""

    def __init__(self, prefix: str, stream: TextIO) -> None:
        self.prefix = prefix
        self.stream = stream

    def __call__(self, message: str) -> None:
        print(f"{self.prefix}: {message}", file=self.stream, flush=True)


class _ProgressLine:
    """When to draw: in place on a terminal (at most every `min_interval` s), else once per 10 %."""

    def __init__(self, stream: TextIO, min_interval: float) -> None:
        self.stream = stream
        self.min_interval = min_interval
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last_draw = 0.0
        self._last_decile = -1
        self._open = False  # a terminal line without its newline yet

    def draw(self, line: str, done: int, total: int) -> None:
        finished = done >= total
        if self._tty:
            now = time.monotonic()
            if finished or now - self._last_draw >= self.min_interval:
                self._last_draw = now
                self.stream.write("\r" + line + ("\n" if finished else ""))
                self.stream.flush()
                self._open = not finished
            return
        decile = 10 * done // total if total else 10
        if decile > self._last_decile:
            self._last_decile = decile
            self.stream.write(line + "\n")
            self.stream.flush()

    def end(self) -> None:
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False


class RowProgress(_ProgressLine):
    """A `ProgressFn` (`progress(done, total)`) drawing `label: 1,234,567/7,000,000 rows (17%)`."""

    def __init__(self, label: str, stream: TextIO, *, min_interval: float = 0.25) -> None:
        super().__init__(stream, min_interval)
        self.label = label

    def __call__(self, done: int, total: int) -> None:
        pct = 100 * done // total if total else 100
        self.draw(f"{self.label}: {done:,}/{total:,} rows ({pct}%)", done, total)


class ItemProgress(_ProgressLine):
    """`label [#####.....] 52/156 pass 50 fail 2 3.1s`: items done, by outcome, and the time taken."""

    def __init__(
        self, total: int, label: str, stream: TextIO | None = None, *, min_interval: float = 0.1
    ) -> None:
        super().__init__(stream if stream is not None else sys.stderr, min_interval)
        self.total = max(total, 1)
        self.label = label
        self.done = 0
        self.counts: Counter[str] = Counter()
        self._started = time.monotonic()

    def _line(self) -> str:
        filled = int(_WIDTH * self.done / self.total)
        counts = " ".join(
            f"{k} {self.counts[k]}" for k in ("pass", "fail", "error", "skipped") if self.counts[k]
        )
        elapsed = time.monotonic() - self._started
        bar = "#" * filled + "." * (_WIDTH - filled)
        return f"{self.label} [{bar}] {self.done}/{self.total} {counts} {elapsed:.1f}s"

    def advance(self, outcome: str) -> None:
        self.done += 1
        self.counts[outcome] += 1
        self.draw(self._line(), self.done, self.total)

    def close(self) -> None:
        self.end()
