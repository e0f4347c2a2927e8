"""Read a billing export (CSV or Parquet) and turn it into clean label records, reporting every bad row.

A billing export has one row per customer outcome: an id, whether the customer churned, and the date the
outcome became known. Column names vary between billing systems, so they are mapped (`LabelColumns`).
Rows that cannot be used are skipped and reported by reason with their line numbers, never dropped
silently; a file without the columns, or without a single usable row, is an error.

    raw = read_export(Path("billing.csv"))                 # every cell as text, plus its line number
    parsed = parse_labels(raw, LabelColumns())             # ParsedLabels(records, bad)
    parsed.records                                         # customer_id, churned (0/1), known_at, line
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

__all__ = [
    "BadRow",
    "LabelColumns",
    "LabelFileError",
    "ParsedLabels",
    "RawExport",
    "parse_labels",
    "read_export",
]

# Outcome spellings billing systems use; compared after strip + lower-case.
_OUTCOMES: dict[str, int] = {
    "true": 1,
    "false": 0,
    "1": 1,
    "0": 0,
    "1.0": 1,
    "0.0": 0,
    "yes": 1,
    "no": 0,
}


class LabelFileError(Exception):
    """The export cannot be used at all (unreadable, missing columns, no usable row). One-line message."""


@dataclass(frozen=True)
class LabelColumns:
    """Which export columns hold the customer id, the outcome, and the date the outcome became known."""

    customer_id: str = "customer_id"
    churned: str = "churned"
    known_at: str = "known_at"


@dataclass(frozen=True)
class RawExport:
    """An export as read: every cell as text (None when empty), and each row's line in the file."""

    frame: pd.DataFrame
    lines: np.ndarray
    line_kind: str  # "line" for CSV (1 = header), "row" for Parquet (1 = first row)


@dataclass(frozen=True)
class BadRow:
    """One skipped row: where it is, why it was skipped, and the offending value."""

    line: int
    reason: str
    value: str


@dataclass(frozen=True)
class ParsedLabels:
    """Usable records (customer_id, churned, known_at, line) and the rows that were skipped."""

    records: pd.DataFrame
    bad: list[BadRow] = field(default_factory=list)
    n_rows: int = 0
    line_kind: str = "line"

    def bad_counts(self) -> dict[str, int]:
        return dict(Counter(b.reason for b in self.bad))

    def bad_summary(self, max_lines: int = 10) -> list[str]:
        """One line per reason, alphabetical: `<count> rows <reason> (lines 3, 9, ... +N more)`."""
        by_reason: dict[str, list[int]] = {}
        for b in self.bad:
            by_reason.setdefault(b.reason, []).append(b.line)
        out = []
        for reason, lines in sorted(by_reason.items()):
            shown = ", ".join(str(n) for n in lines[:max_lines])
            more = f" +{len(lines) - max_lines} more" if len(lines) > max_lines else ""
            noun = "row" if len(lines) == 1 else "rows"
            out.append(f"{len(lines)} {noun} {reason} ({self.line_kind}s {shown}{more})")
        return out


def read_export(path: Path, *, delimiter: str = ",") -> RawExport:
    """Read a `.csv` (optionally with a BOM) or `.parquet` export, keeping every cell as text."""
    suffix = path.name.lower()
    if not path.is_file():
        raise LabelFileError(f"{path}: no such file")
    if suffix.endswith(".parquet") or suffix.endswith(".pq"):
        return _read_parquet(path)
    if suffix.endswith(".csv") or suffix.endswith(".txt"):
        return _read_csv(path, delimiter)
    raise LabelFileError(f"{path}: expected a .csv or .parquet file")


def _read_csv(path: Path, delimiter: str) -> RawExport:
    # The csv module (not pandas) so that line numbers stay exact across blank lines and quoted newlines.
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                raise LabelFileError(f"{path}: the file is empty")
            header = [h.strip() for h in header]
            rows: list[list[str | None]] = []
            lines: list[int] = []
            previous_end = reader.line_num
            for record in reader:
                start = previous_end + 1
                previous_end = reader.line_num
                if not record or all(not cell.strip() for cell in record):
                    continue
                cells: list[str | None] = [c if c.strip() else None for c in record[: len(header)]]
                cells += [None] * (len(header) - len(cells))
                rows.append(cells)
                lines.append(start)
    except UnicodeDecodeError as exc:
        raise LabelFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except csv.Error as exc:
        raise LabelFileError(f"{path}: not a readable CSV file ({exc})") from exc
    except OSError as exc:
        raise LabelFileError(f"{path}: {exc.strerror}") from exc
    if len(set(header)) != len(header):
        dupes = sorted({h for h in header if header.count(h) > 1})
        raise LabelFileError(f"{path}: duplicate column names {dupes}")
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    return RawExport(frame=frame, lines=np.asarray(lines, dtype=np.int64), line_kind="line")


def _read_parquet(path: Path) -> RawExport:
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise LabelFileError(f"{path}: not a readable Parquet file ({exc})") from exc
    frame = table.to_pandas()
    text = pd.DataFrame({name: frame[name].map(_cell_text) for name in frame.columns}, dtype=object)
    return RawExport(frame=text, lines=np.arange(1, len(frame) + 1, dtype=np.int64), line_kind="row")


def _cell_text(value: object) -> str | None:
    """A Parquet cell as the text a CSV would hold; dates and timestamps in ISO form."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, datetime, date)):
        return value.isoformat()
    return str(value)


def parse_labels(raw: RawExport, columns: LabelColumns) -> ParsedLabels:
    """Validate every row; return the usable records and the skipped rows with reasons.

    Within one export, a later row for the same customer and `known_at` wins over an earlier one (it is
    the billing system's own correction); exact repeats collapse into one record.
    """
    frame = raw.frame
    wanted = [columns.customer_id, columns.churned, columns.known_at]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns)) or "none"
        raise LabelFileError(
            f"missing column(s) {', '.join(missing)} (found: {found}); "
            "map them with --id-column/--label-column/--known-at-column or monitoring.labels.columns"
        )
    lines = raw.lines
    ids = frame[columns.customer_id].map(lambda v: v.strip() if isinstance(v, str) else v)
    outcome_text = frame[columns.churned].map(lambda v: v.strip().lower() if isinstance(v, str) else v)
    outcome = outcome_text.map(_OUTCOMES)
    known_at = _parse_dates(frame[columns.known_at])

    bad: list[BadRow] = []
    bad_id = ids.isna() | (ids == "")
    bad_outcome = ~bad_id & outcome.isna()
    bad_date = ~bad_id & ~bad_outcome & known_at.isna()
    for mask, reason, source in (
        (bad_id, "missing customer_id", frame[columns.customer_id]),
        (bad_outcome, f"unknown {columns.churned} value", frame[columns.churned]),
        (bad_date, f"unparsable {columns.known_at} date", frame[columns.known_at]),
    ):
        for i in np.flatnonzero(mask.to_numpy()):
            value = source.iloc[i]
            bad.append(BadRow(int(lines[i]), reason, "" if value is None else str(value)))
    bad.sort(key=lambda b: b.line)

    good = ~(bad_id | bad_outcome | bad_date).to_numpy()
    records = pd.DataFrame(
        {
            "customer_id": ids[good].astype(str).to_numpy(),
            "churned": outcome[good].astype(np.int8).to_numpy(),
            "known_at": known_at[good].to_numpy(),
            "line": lines[good],
        }
    )
    records["known_at"] = pd.to_datetime(records["known_at"], utc=True).astype("datetime64[us, UTC]")
    records = records.drop_duplicates(["customer_id", "known_at"], keep="last").reset_index(drop=True)
    return ParsedLabels(records=records, bad=bad, n_rows=len(frame), line_kind=raw.line_kind)


def _parse_dates(column: pd.Series) -> pd.Series:
    """ISO dates or datetimes; naive values are UTC; anything else (or years outside 1970-2200) is NaT."""
    text = column.map(lambda v: v.strip() if isinstance(v, str) else v)
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    plausible = (parsed.dt.year >= 1970) & (parsed.dt.year <= 2200)
    return parsed.where(plausible)
