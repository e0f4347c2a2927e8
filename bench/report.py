"""Plain-text tables and target verdicts for the sections' output.

print(table(["run", "req/s"], [["reference", 68.1], ["gateway", 2150.3]]))
verdict(2150.3 / 68.1 >= 20)   # 'met'
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

__all__ = ["fmt", "heading", "say", "table", "verdict"]

Cell = str | int | float | None


def fmt(value: Cell, digits: int = 1) -> str:
    """Numbers with thousands separators and `digits` decimals; NaN/None as '-'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return value


def table(headers: Sequence[str], rows: Sequence[Sequence[Cell]], digits: int = 1) -> str:
    """A left-aligned first column and right-aligned figures, sized to the widest cell."""
    cells = [list(headers)] + [[fmt(c, digits) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        first = row[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))]).rstrip()

    rule = "-" * len(line(cells[0]))
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def heading(title: str, load: float, cpus: int | None) -> str:
    return f"\n== {title} ==  (load average {load:.1f} on {cpus or '?'} CPUs)"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def say(message: str) -> None:
    """Progress on stderr, so stdout holds only the tables."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)
