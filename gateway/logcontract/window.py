"""Read a time window of a request log, one partition value (model version, model) at a time.

    win = read_window(uri, days=7, columns=FEATURE_NAMES, max_rows=200_000)      # the prediction log
    win.model_version, win.versions_seen, win.n_rows_total, win.sampled, win.skipped_files
    rows = read_rows(uri, LLM_LOG, start, end, columns=["request_id", "model"],
                     where=ds.field("status") == 200, where_columns=["status"])

Decisions a caller relies on:
- The window is the half-open interval `[end - days, end)` in UTC; `end` defaults to now, a naive `end`
  is UTC. Only the `date=` folders it touches are listed; rows are counted from row-group statistics.
- The default partition value is the one that served the window's LATEST row (ties: the larger name):
  the version live at `end`, which is right after a rollback too.
- A window never mixes values: rows of the others are only counted, in `versions_seen`.
- With more rows than `max_rows`, the window is a seeded simple random sample of exactly `max_rows` of
  its rows (the same files and seed give the same rows). Compacted hours lying wholly inside the window
  give their share from the uniform sample the compactor kept beside them (`samples.py`: a few small
  row groups each); the rest is drawn while streaming (memory: about `max_rows` rows plus one row
  group), and files none of whose rows are drawn are not opened past their footer.
  `rows_from_samples` says how many rows came from compaction samples.
- A file that cannot be read (truncated by a crash, not Parquet) is skipped and named in
  `skipped_files`; the window is read from the others. A file that vanished since the listing
  (compaction, retention) makes the reader list again, so each row is seen exactly once.

Errors carry a one-line message:

    LogReadError            the log cannot be read as asked (unreachable store, bad arguments)
    └── MissingColumnError  a requested column is not in the log's schema
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from gateway.logcontract.census import _READ_ERRORS, FileCensus, Vanished, open_parquet, take_census
from gateway.logcontract.draw import conform as _conform
from gateway.logcontract.draw import draw, from_sample, strata
from gateway.logcontract.layout import live_files, partition_value, sample_period, torn
from gateway.logcontract.listing import LogReadError, dates_between, list_day, list_parquet, open_log
from gateway.logcontract.samples import SampleInfo, allocate, read_sample_info
from gateway.logcontract.schemas import PREDICTION_LOG, LogSpec

__all__ = [
    "LogReadError",
    "LogWindow",
    "MissingColumnError",
    "ProgressFn",
    "Rows",
    "list_versions",
    "read_rows",
    "read_window",
    "window_bounds",
]

ProgressFn = Callable[[int, int], None]
"""Called as `progress(rows_read, rows_to_read)` after each record batch of the main read."""

# How often a read starts over when files vanish under it (a compaction replacing files mid-read).
_MAX_ATTEMPTS = 20
T = TypeVar("T")


class MissingColumnError(LogReadError):
    """A requested column is not in the log's schema."""


@dataclass(frozen=True)
class LogWindow:
    """Rows of ONE partition value whose `ts` falls in `[start, end)`.

    `n_rows_total` counts that value's rows in the range before sampling; `table.num_rows` is
    `min(n_rows_total, max_rows)`. `versions_seen` counts the rows of every value in the range.
    `model_version` is None only when the range holds no rows at all.
    """

    table: pa.Table
    model_version: str | None
    versions_seen: dict[str, int]
    start: datetime
    end: datetime
    n_rows_total: int
    sampled: bool
    files: tuple[str, ...] = field(default=(), repr=False)
    skipped_files: tuple[str, ...] = ()
    rows_from_samples: int = 0  # of `table`'s rows, those taken from compaction samples

    @property
    def n_rows(self) -> int:
        return int(self.table.num_rows)


def window_bounds(days: int, end: datetime | None = None) -> tuple[datetime, datetime]:
    """`(end - days, end)` in UTC; `end` defaults to now, a naive `end` is read as UTC."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise LogReadError(f"days must be a whole number >= 1, got {days!r}")
    if end is None:
        end = datetime.now(UTC)
    elif end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    else:
        end = end.astimezone(UTC)
    return end - timedelta(days=days), end


def _retrying(what: str, attempt: Callable[[dict[str, FileCensus | None]], tuple[T, _Scan]]) -> T:
    """Run a whole read again while files vanish under it or a compaction lands during it.

    A listing is not a snapshot: while it runs, a compactor may publish a set and delete the writer
    files it replaces, so the listing could miss both. A second listing after the read tells
    (`layout.torn`); then the read is done again from a fresh listing.
    """
    cache: dict[str, FileCensus | None] = {}
    for _ in range(_MAX_ATTEMPTS):
        try:
            result, scan = attempt(cache)
        except Vanished:
            continue
        if scan.unchanged():
            return result
    raise LogReadError(
        f"{what}: files kept disappearing during {_MAX_ATTEMPTS} reads (is a compaction looping?)"
    )


class _Scan:
    """One listing of a window and the census of its files; corrupt files are set aside, never fatal."""

    def __init__(
        self,
        uri: str,
        spec: LogSpec,
        start: datetime,
        end: datetime,
        cache: dict[str, FileCensus | None] | None = None,
    ) -> None:
        self.fs, self.root = open_log(uri)
        self.spec, self.start, self.end = spec, start, end
        self.cache = {} if cache is None else cache
        self.skipped: list[str] = []
        self.census: list[tuple[str, FileCensus]] = []  # (partition value, census), files in fixed order
        self.days = dates_between(start, end)
        listed: list[str] = []
        self.sample_paths: list[str] = []
        for day in self.days:
            listing = list_day(self.fs, self.root, day)
            listed += listing.parquet
            self.sample_paths += listing.samples
        self.listed = listed
        for path in live_files(listed):
            value = partition_value(path, spec.partition_key)
            if value is None:
                continue
            # Files never change once named, so a census (or a verdict of unreadable) is kept across
            # attempts: a read that starts over after a compaction only opens the new files.
            if path in self.cache:
                c = self.cache[path]
            else:
                try:
                    c = take_census(self.fs, path, start, end)
                except _READ_ERRORS:
                    c = None
                self.cache[path] = c
            if c is None:
                self.skipped.append(path)
                continue
            if c.rows:
                self.census.append((value, c))

    def unchanged(self) -> bool:
        """No compaction published a set since this scan listed (so its listing was not torn)."""
        return not torn(self.listed, list_parquet(self.fs, self.root, self.days))

    def samples(self) -> dict[tuple[str, int, int], list[SampleInfo]]:
        """The usable compaction samples of the listing, by (folder, start_ms, end_ms) of their set."""
        out: dict[tuple[str, int, int], list[SampleInfo]] = defaultdict(list)
        for path in self.sample_paths:
            period = sample_period(path)
            info = read_sample_info(self.fs, path) if period is not None else None
            if info is not None:
                out[(path.rsplit("/", 1)[0], info.start_ms, info.end_ms)].append(info)
        return out

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for value, c in self.census:
            out[value] = out.get(value, 0) + c.rows
        return out

    def latest(self, value: str) -> datetime | None:
        stamps = [c.max_ts for v, c in self.census if v == value and c.max_ts is not None]
        return max(stamps) if stamps else None

    def batches(
        self,
        c: FileCensus,
        value: str,
        columns: list[str],
        where: ds.Expression | None = None,
        where_columns: Sequence[str] = (),
    ) -> Iterator[pa.Table]:
        """The file's rows in range (and matching `where`), projected; `conform` gives contract types.

        String columns are decoded as dictionaries (the categorical features repeat a handful of values),
        which is several times cheaper than materialising every string of a window that is then sampled.
        """
        strings = [
            n
            for n in columns
            if n in c.columns
            and n in self.spec.schema.names
            and pa.types.is_string(self.spec.schema.field(n).type)
        ]
        pf = open_parquet(self.fs, c.path, read_dictionary=strings)
        present = set(pf.schema_arrow.names)
        day = partition_value(c.path, "date") or ""
        wanted = [n for n in columns if n in self.spec.schema.names]
        needed = sorted(
            {*(n for n in wanted if n in present), "ts", *(n for n in where_columns if n in present)}
        )
        target = self.spec.full_schema
        lo = pa.scalar(self.start, target.field("ts").type)
        hi = pa.scalar(self.end, target.field("ts").type)
        for batch in pf.iter_batches(row_groups=list(c.row_groups), columns=needed, use_threads=True):
            table = pa.Table.from_batches([batch])
            ts = table.column("ts")
            table = table.filter(pc.and_(pc.greater_equal(ts, lo), pc.less(ts, hi)))
            if where is not None:
                table = table.filter(where)
            cols = []
            for name in columns:
                typ = target.field(name).type
                if name == "date":
                    cols.append(pa.array([day] * table.num_rows, typ))
                elif name == self.spec.partition_key:
                    cols.append(pa.array([value] * table.num_rows, typ))
                elif name in present:
                    cols.append(table.column(name))
                else:  # a column added to the contract after this file was written
                    cols.append(pa.nulls(table.num_rows, typ))
            yield pa.Table.from_arrays(cols, names=columns)


def _columns(spec: LogSpec, columns: Sequence[str] | None) -> list[str]:
    if columns is None:
        return list(spec.full_schema.names)
    cols = list(dict.fromkeys(columns))
    missing = [c for c in cols if c not in spec.full_schema.names]
    if missing:
        raise MissingColumnError(f"the {spec.name} has no column(s) {', '.join(missing)}")
    return cols


def _empty(spec: LogSpec, cols: list[str]) -> pa.Table:
    return spec.full_schema.empty_table().select(cols)


def list_versions(
    log_uri: str, days: int, end: datetime | None = None, *, spec: LogSpec = PREDICTION_LOG
) -> dict[str, int]:
    """Rows per partition value whose `ts` falls in the window (values with no rows in it left out)."""
    start, stop = window_bounds(days, end)

    def attempt(cache: dict[str, FileCensus | None]) -> tuple[dict[str, int], _Scan]:
        scan = _Scan(log_uri, spec, start, stop, cache)
        return scan.counts(), scan

    return _retrying(f"reading {log_uri}", attempt)


def read_window(
    log_uri: str,
    *,
    days: int,
    model_version: str | None = None,
    end: datetime | None = None,
    columns: Sequence[str] | None = None,
    max_rows: int | None = None,
    seed: int = 0,
    progress: ProgressFn | None = None,
    spec: LogSpec = PREDICTION_LOG,
) -> LogWindow:
    """Rows of one partition value in `[end - days, end)`, projected to `columns`, sampled to `max_rows`.

    `model_version=None` picks the value of the latest row in the window. `columns=None` reads every
    column, including the partition fields. An empty range (or a missing log folder) gives an empty
    LogWindow, not an error: the caller decides what that means.
    """
    if max_rows is not None and max_rows < 1:
        raise LogReadError(f"max_rows must be >= 1, got {max_rows}")
    start, stop = window_bounds(days, end)
    cols = _columns(spec, columns)
    return _retrying(
        f"reading {log_uri}",
        lambda cache: _read(log_uri, spec, start, stop, model_version, cols, max_rows, seed, progress, cache),
    )


def _read(
    log_uri: str,
    spec: LogSpec,
    start: datetime,
    stop: datetime,
    model_version: str | None,
    cols: list[str],
    max_rows: int | None,
    seed: int,
    progress: ProgressFn | None,
    cache: dict[str, FileCensus | None],
) -> tuple[LogWindow, _Scan]:
    scan = _Scan(log_uri, spec, start, stop, cache)
    seen = scan.counts()
    version = model_version
    if version is None and seen:
        floor = datetime.min.replace(tzinfo=UTC)
        version = max(seen, key=lambda v: (scan.latest(v) or floor, v))
    total = seen.get(version, 0) if version is not None else 0
    empty = _empty(spec, cols)
    files = [c for v, c in scan.census if v == version]
    if total == 0 or version is None:
        return LogWindow(empty, version, seen, start, stop, 0, False, skipped_files=tuple(scan.skipped)), scan
    kept: list[pa.Table] = []
    from_samples = 0
    covered = 0

    def advanced(rows: int) -> None:
        nonlocal covered
        covered += rows
        if progress is not None:
            progress(min(covered, total), total)

    if max_rows is None or total <= max_rows:
        kept = draw(scan, files, version, cols, None, empty.schema, advanced)
    else:
        rng = np.random.default_rng(seed)
        plan = strata(scan, files)
        counts = allocate([sum(c.rows for c in group) for group, _ in plan], max_rows, rng)
        for (group, sample), n in zip(plan, counts, strict=True):
            got = from_sample(scan, sample, version, cols, int(n), empty.schema) if sample else None
            if got is not None:
                kept.append(got)
                from_samples += got.num_rows
                advanced(sample.population if sample else 0)
                continue
            rows = sum(c.rows for c in group)
            take = np.sort(rng.choice(rows, size=int(n), replace=False)) if n < rows else None
            kept += draw(scan, group, version, cols, take, empty.schema, advanced)
    table = pa.concat_tables(kept).combine_chunks() if kept else empty
    return LogWindow(
        table=table,
        model_version=version,
        versions_seen=seen,
        start=start,
        end=stop,
        n_rows_total=total,
        sampled=max_rows is not None and total > max_rows,
        files=tuple(c.path for c in files),
        skipped_files=tuple(scan.skipped),
        rows_from_samples=from_samples,
    ), scan


@dataclass(frozen=True)
class Rows:
    """Every matching row of a range, with the partition value of each, and the files left out."""

    table: pa.Table
    skipped_files: tuple[str, ...]


def read_rows(
    log_uri: str,
    spec: LogSpec,
    start: datetime,
    end: datetime,
    *,
    columns: Sequence[str],
    where: ds.Expression | None = None,
    where_columns: Sequence[str] = (),
    values: Sequence[str] | None = None,
) -> Rows:
    """All rows in `[start, end)` of the given partition values (None = all) that match `where`.

    `where` is an Arrow expression over row columns; name the columns it uses in `where_columns`.
    """
    cols = _columns(spec, columns)

    def attempt(cache: dict[str, FileCensus | None]) -> tuple[Rows, _Scan]:
        scan = _Scan(log_uri, spec, start, end, cache)
        kept: list[pa.Table] = []
        empty = _empty(spec, cols)
        for value, c in scan.census:
            if values is not None and value not in values:
                continue
            try:
                kept += [
                    _conform(t, empty.schema) for t in scan.batches(c, value, cols, where, where_columns)
                ]
            except _READ_ERRORS:
                scan.skipped.append(c.path)
        table = pa.concat_tables(kept) if kept else empty
        return Rows(table, tuple(scan.skipped)), scan

    return _retrying(f"reading {log_uri}", attempt)
