"""Count a file's rows inside a time range from its Parquet footer, reading `ts` only where it must.

A row group whose `ts` statistics lie wholly inside `[start, end)` is counted from its footer; one wholly
outside is skipped; only row groups straddling an edge have their `ts` column decoded. For a 30-day window
of compacted files that is the footer of each file plus a few row groups at the two edges.

A file that cannot be opened (truncated by a crash, not Parquet) is reported as corrupt; one that has
disappeared since it was listed (compaction replaced it, retention removed it) raises `Vanished`, and the
reader lists again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

__all__ = ["FileCensus", "Vanished", "open_parquet", "take_census"]

_READ_ERRORS = (OSError, pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)


class Vanished(Exception):
    """A listed file is gone: the listing is stale."""


@dataclass(frozen=True)
class FileCensus:
    """Rows of one file inside the range, and which row groups hold them."""

    path: str
    rows: int
    max_ts: datetime | None
    row_groups: tuple[int, ...]
    columns: tuple[str, ...] = ()  # the file's own columns (older files may lack newer ones)


def _utc(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def open_parquet(fs: pafs.FileSystem, path: str, read_dictionary: list[str] | None = None) -> pq.ParquetFile:
    """Open a file's footer; `Vanished` when it is gone, the arrow error when it is not readable."""
    try:
        return pq.ParquetFile(fs.open_input_file(path), read_dictionary=read_dictionary)
    except FileNotFoundError as exc:
        raise Vanished(path) from exc
    except _READ_ERRORS:
        if fs.get_file_info(path).type == pafs.FileType.NotFound:
            raise Vanished(path) from None
        raise


def take_census(fs: pafs.FileSystem, path: str, start: datetime, end: datetime) -> FileCensus:
    pf = open_parquet(fs, path)
    md = pf.metadata
    names = pf.schema_arrow.names
    if "ts" not in names:
        raise pa.ArrowInvalid(f"{path} has no ts column")
    ts_index = pf.metadata.schema.to_arrow_schema().get_field_index("ts")
    rows = 0
    latest: datetime | None = None
    groups: list[int] = []
    for i in range(md.num_row_groups):
        rg = md.row_group(i)
        if rg.num_rows == 0:
            continue
        stats = rg.column(ts_index).statistics
        lo = _utc(stats.min) if stats is not None and stats.has_min_max else None
        hi = _utc(stats.max) if stats is not None and stats.has_min_max else None
        if lo is not None and hi is not None:
            if hi < start or lo >= end:
                continue
            if lo >= start and hi < end:
                rows += rg.num_rows
                latest = hi if latest is None or hi > latest else latest
                groups.append(i)
                continue
        ts = pf.read_row_group(i, columns=["ts"]).column("ts")
        lo_s, hi_s = pa.scalar(start, ts.type), pa.scalar(end, ts.type)
        inside = ts.filter(pc.and_(pc.greater_equal(ts, lo_s), pc.less(ts, hi_s)))
        if len(inside):
            rows += len(inside)
            top = _utc(pc.max(inside).as_py())
            if top is not None and (latest is None or top > latest):
                latest = top
            groups.append(i)
    return FileCensus(path, rows, latest, tuple(groups), tuple(names))
