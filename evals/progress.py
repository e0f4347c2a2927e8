"""A progress bar on stderr: redrawn in place on a terminal, a line per 10% otherwise (CI logs, cron).

bar = Progress(total=156, label="core")
bar.advance("pass"); ...; bar.close()
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import TextIO

__all__ = ["Progress"]

_WIDTH = 30


class Progress:
    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.counts: Counter[str] = Counter()
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._started = time.monotonic()
        self._last_decile = -1

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
        if self._tty:
            self.stream.write("\r" + self._line())
            self.stream.flush()
            return
        decile = 10 * self.done // self.total
        if decile != self._last_decile:
            self._last_decile = decile
            self.stream.write(self._line() + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()
