"""Read a time window of the churn prediction log, one model version at a time.

The log layout is the contract in docs/contracts.md ("Churn prediction log"):
`<uri>/date=YYYY-MM-DD/model_version=<version>/part-<epoch_ms>-<uuid8>.parquet`. Readers never go row by
row: only the `date=` folders inside the window are listed (partition pruning by date), the version is a
hive partition filter (pruning by version), only the asked-for columns are decoded (projection), and `ts`
is filtered inside the Parquet scan, using row-group statistics where it can.

    win = read_window(cfg.prediction_log_uri, days=7, columns=FEATURE_NAMES, max_rows=200_000)
    win.model_version, win.versions_seen, win.n_rows_total, win.sampled
    frame = win.table.to_pandas()

Decisions a caller relies on:
- `Window.table` is a `pyarrow.Table`: a 7-day log can hold millions of rows and Arrow keeps strings
  compact; convert with `.to_pandas()` after projection and sampling.
- The window is the half-open interval `[end - days, end)`, in UTC; `end` defaults to now. A naive
  `end` is taken as UTC.
- The default model version is the one that served the window's LATEST prediction (ties: the larger
  version string). That is the version live at `end`, which is right after a rollback too, where
  "largest version name" would pick the rolled-back model.
- A window never mixes versions: rows of the other versions are only counted, in `versions_seen`.
- With more rows than `max_rows`, a seeded uniform sample without replacement is drawn while
  streaming (memory stays at about `max_rows` rows plus one record batch); the same files and seed
  give the same rows.
- Hidden files (`.name`, `_name`) are skipped, so a writer can write a temp file and rename it.
- Object-store URIs (`s3://…`, `gs://…`) go through `pyarrow.fs.FileSystem.from_uri`.

Errors carry a one-line message for the user:

    LogWindowError          the log cannot be read as asked (unreadable file, bad arguments)
    └── MissingColumnError  a requested column is not in the log's schema
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote, unquote

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

__all__ = [
    "PARTITION_SCHEMA",
    "PREDICTION_LOG_SCHEMA",
    "LogWindowError",
    "MissingColumnError",
    "ProgressFn",
    "Window",
    "list_versions",
    "read_window",
    "window_bounds",
    "write_prediction_rows",
]

# The row schema of docs/contracts.md. `date` and `model_version` live in the path, not in the files.
PREDICTION_LOG_SCHEMA = pa.schema(
    [
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("client_request_id", pa.string()),
        pa.field("trace_id", pa.string()),
        pa.field("tenant", pa.string(), nullable=False),
        pa.field("customer_id", pa.string()),
        pa.field("tenure_months", pa.int64()),
        pa.field("monthly_charges", pa.float64()),
        pa.field("total_charges", pa.float64()),
        pa.field("support_tickets", pa.int64()),
        pa.field("contract_type", pa.string()),
        pa.field("payment_method", pa.string()),
        pa.field("internet_service", pa.string()),
        pa.field("churn_probability", pa.float64()),
        pa.field("prediction", pa.string()),
    ]
)
PARTITION_SCHEMA = pa.schema([("date", pa.string()), ("model_version", pa.string())])
_NULLABLE_DEFAULTS = ("client_request_id", "trace_id", "customer_id")
_TS_TYPE = pa.timestamp("us", tz="UTC")

ProgressFn = Callable[[int, int], None]
"""Called as `progress(rows_read, rows_to_read)` after each record batch of the main read."""


class LogWindowError(Exception):
    """The prediction log cannot be read as asked. The message is one line for the user."""


class MissingColumnError(LogWindowError):
    """A requested column is not in the log's schema."""


@dataclass(frozen=True)
class Window:
    """Rows of ONE model version whose `ts` falls in `[start, end)`.

    `n_rows_total` counts that version's rows in the range before sampling; `table.num_rows` is
    `min(n_rows_total, max_rows)`. `versions_seen` counts the rows of every version in the range.
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

    @property
    def n_rows(self) -> int:
        return int(self.table.num_rows)


def window_bounds(days: int, end: datetime | None = None) -> tuple[datetime, datetime]:
    """`(end - days, end)` in UTC; `end` defaults to now, a naive `end` is read as UTC."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise LogWindowError(f"days must be a whole number >= 1, got {days!r}")
    if end is None:
        end = datetime.now(UTC)
    elif end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    else:
        end = end.astimezone(UTC)
    return end - timedelta(days=days), end


def _open(log_uri: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem and root path of a log URI; plain paths are local (relative ones made absolute)."""
    if "://" not in log_uri:
        return pafs.LocalFileSystem(), os.path.abspath(log_uri)
    try:
        fs, root = pafs.FileSystem.from_uri(log_uri)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise LogWindowError(f"cannot open log URI {log_uri}: {exc}") from exc
    return fs, root.rstrip("/")


def _dates(start: datetime, end: datetime) -> list[date]:
    """The UTC dates the half-open range `[start, end)` touches."""
    first = start.date()
    last = (end - timedelta(microseconds=1)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _is_hidden(path: str) -> bool:
    return os.path.basename(path).startswith((".", "_"))


def _partition_value(path: str, key: str) -> str | None:
    """The value of the LAST `key=` segment of a path (the root itself may hold such a segment)."""
    for segment in reversed(path.split("/")):
        if segment.startswith(f"{key}="):
            return unquote(segment[len(key) + 1 :])
    return None


def _version_of(path: str) -> str | None:
    return _partition_value(path, "model_version")


def _list_files(fs: pafs.FileSystem, root: str, days: list[date]) -> list[str]:
    """Parquet files under the `date=` folders of `days` only: the pruning by date happens here."""
    files: list[str] = []
    for day in days:
        selector = pafs.FileSelector(f"{root}/date={day.isoformat()}", allow_not_found=True, recursive=True)
        try:
            infos = fs.get_file_info(selector)
        except OSError as exc:
            raise LogWindowError(f"cannot list {root}/date={day.isoformat()}: {exc}") from exc
        files += [
            i.path
            for i in infos
            if i.type == pafs.FileType.File
            and i.path.endswith(".parquet")
            and not _is_hidden(i.path)
            and _version_of(i.path) is not None
        ]
    return sorted(files)


def _ts_filter(start: datetime, end: datetime) -> ds.Expression:
    lo = pa.scalar(start, type=_TS_TYPE)
    hi = pa.scalar(end, type=_TS_TYPE)
    return (ds.field("ts") >= lo) & (ds.field("ts") < hi)


def _dataset(fs: pafs.FileSystem, root: str, files: list[str]) -> ds.Dataset:
    partitioning = ds.partitioning(PARTITION_SCHEMA, flavor="hive")
    try:
        return ds.dataset(
            files, filesystem=fs, format="parquet", partitioning=partitioning, partition_base_dir=root
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise LogWindowError(f"cannot read the prediction log under {root}: {exc}") from exc


class _Scan:
    """The files of one window, opened once, so counting and reading see the same set of files."""

    def __init__(self, log_uri: str, start: datetime, end: datetime) -> None:
        self.fs, self.root = _open(log_uri)
        self.start, self.end = start, end
        self.files = _list_files(self.fs, self.root, _dates(start, end))
        self.ts_filter = _ts_filter(start, end)
        self.dataset = _dataset(self.fs, self.root, self.files) if self.files else None

    def versions(self) -> list[str]:
        return sorted({v for f in self.files if (v := _version_of(f)) is not None})

    def count(self, version: str) -> int:
        assert self.dataset is not None
        expr = self.ts_filter & (ds.field("model_version") == version)
        try:
            return int(self.dataset.count_rows(filter=expr))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
            raise LogWindowError(f"cannot read the prediction log under {self.root}: {exc}") from exc

    def latest_ts(self, version: str) -> datetime | None:
        """The version's latest `ts` in range, reading `ts` of its newest non-empty day only."""
        assert self.dataset is not None
        days = sorted({_partition_value(f, "date") or "" for f in self.files if _version_of(f) == version})
        for day in reversed(days):
            expr = self.ts_filter & (ds.field("model_version") == version) & (ds.field("date") == day)
            ts = self.dataset.to_table(columns=["ts"], filter=expr).column("ts")
            if len(ts):
                latest: datetime = pc.max(ts).as_py()
                return latest
        return None

    def fragments(self, version: str) -> list[ds.Fragment]:
        assert self.dataset is not None
        frags = self.dataset.get_fragments(filter=ds.field("model_version") == version)
        # A fixed order makes the seeded sample reproducible.
        return sorted(frags, key=lambda f: f.path)


def list_versions(log_uri: str, days: int, end: datetime | None = None) -> dict[str, int]:
    """Rows per model version whose `ts` falls in the window (versions with no rows in it left out)."""
    start, stop = window_bounds(days, end)
    scan = _Scan(log_uri, start, stop)
    if scan.dataset is None:
        return {}
    counts = {v: scan.count(v) for v in scan.versions()}
    return {v: n for v, n in counts.items() if n > 0}


def _pick_version(scan: _Scan, seen: dict[str, int]) -> str:
    """The version that served the latest prediction in the window; ties go to the larger name."""
    latest = {v: scan.latest_ts(v) for v in seen}
    floor = datetime.min.replace(tzinfo=UTC)
    return max(seen, key=lambda v: (latest[v] or floor, v))


def _columns(schema: pa.Schema, columns: Sequence[str] | None, root: str) -> list[str]:
    if columns is None:
        return list(schema.names)
    cols = list(dict.fromkeys(columns))
    missing = [c for c in cols if c not in schema.names]
    if missing:
        raise MissingColumnError(f"the prediction log under {root} has no column(s) {', '.join(missing)}")
    return cols


def _empty(schema: pa.Schema | None, columns: Sequence[str] | None) -> pa.Table:
    base = pa.unify_schemas([PREDICTION_LOG_SCHEMA, PARTITION_SCHEMA]) if schema is None else schema
    names = list(base.names) if columns is None else [c for c in columns if c in base.names]
    return base.empty_table().select(names)


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
) -> Window:
    """Rows of one model version in `[end - days, end)`, projected to `columns`, sampled to `max_rows`.

    `model_version=None` picks the version of the latest prediction in the window. `columns=None`
    reads every column, including the partition fields `date` and `model_version`. An empty range
    (or a missing log folder) gives an empty Window, not an error: the caller decides what that means.
    """
    if max_rows is not None and max_rows < 1:
        raise LogWindowError(f"max_rows must be >= 1, got {max_rows}")
    start, stop = window_bounds(days, end)
    scan = _Scan(log_uri, start, stop)
    if scan.dataset is None:
        return Window(_empty(None, columns), model_version, {}, start, stop, 0, False)
    cols = _columns(scan.dataset.schema, columns, scan.root)
    counts = {v: scan.count(v) for v in scan.versions()}
    seen = {v: n for v, n in counts.items() if n > 0}
    version = model_version if model_version is not None else (_pick_version(scan, seen) if seen else None)
    total = seen.get(version, 0) if version is not None else 0
    empty = _empty(scan.dataset.schema, cols)
    if total == 0 or version is None:
        return Window(empty, version, seen, start, stop, 0, False)
    fragments = scan.fragments(version)
    take: npt.NDArray[np.int64] | None = None
    if max_rows is not None and total > max_rows:
        rng = np.random.default_rng(seed)
        take = np.sort(rng.choice(total, size=max_rows, replace=False))
    table = _stream(scan, fragments, cols, total, take, progress)
    return Window(
        table=table if table.num_rows else empty,
        model_version=version,
        versions_seen=seen,
        start=start,
        end=stop,
        n_rows_total=total,
        sampled=take is not None,
        files=tuple(f.path for f in fragments),
    )


def _stream(
    scan: _Scan,
    fragments: list[ds.Fragment],
    cols: list[str],
    total: int,
    take: npt.NDArray[np.int64] | None,
    progress: ProgressFn | None,
) -> pa.Table:
    """Read the fragments in order, keeping every row or only the global row indices in `take`."""
    assert scan.dataset is not None
    schema = scan.dataset.schema
    kept: list[pa.RecordBatch] = []
    offset = 0
    try:
        for frag in fragments:
            for batch in frag.to_batches(
                schema=schema, columns=cols, filter=scan.ts_filter, use_threads=True
            ):
                n = batch.num_rows
                if take is None:
                    kept.append(batch)
                else:
                    lo, hi = np.searchsorted(take, [offset, offset + n])
                    if hi > lo:
                        kept.append(batch.take(pa.array(take[lo:hi] - offset)))
                offset += n
                if progress is not None and n:
                    progress(min(offset, total), total)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise LogWindowError(f"cannot read the prediction log under {scan.root}: {exc}") from exc
    if not kept:
        return schema.empty_table().select(cols)
    return pa.Table.from_batches(kept).combine_chunks()


def _as_table(rows: pd.DataFrame | pa.Table) -> pa.Table:
    """Rows in the contract's schema; `client_request_id`, `trace_id`, `customer_id` may be left out."""
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_pandas(rows, preserve_index=False)
    for name in _NULLABLE_DEFAULTS:
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, pa.string()))
    missing = [n for n in PREDICTION_LOG_SCHEMA.names if n not in table.column_names]
    if missing:
        raise ValueError(f"prediction rows lack column(s) {', '.join(missing)}")
    table = table.select(PREDICTION_LOG_SCHEMA.names)
    if pa.types.is_timestamp(table.schema.field("ts").type) and table.schema.field("ts").type.tz is None:
        raise ValueError("prediction rows: `ts` must be timezone-aware (UTC)")
    return table.cast(PREDICTION_LOG_SCHEMA)


def write_prediction_rows(log_uri: str, rows: pd.DataFrame | pa.Table, model_version: str) -> list[str]:
    """Append `rows` to the log in the contract's layout, one new file per UTC date; return the paths.

    For tests, simulation and benchmarks: the gateway has its own batched writer, and the layout in
    docs/contracts.md is the contract both follow. Each file is written under a hidden name and
    renamed into place, so a concurrent reader never sees half a file.
    """
    if not model_version or "/" in model_version:
        raise ValueError(f"model_version must be a non-empty name without '/', got {model_version!r}")
    table = _as_table(rows)
    if table.num_rows == 0:
        return []
    fs, root = _open(log_uri)
    days = pc.strftime(table.column("ts"), format="%Y-%m-%d")
    written: list[str] = []
    for day in sorted(pc.unique(days).to_pylist()):
        part = table.filter(pc.equal(days, day))
        folder = f"{root}/date={day}/model_version={quote(model_version, safe='')}"
        fs.create_dir(folder, recursive=True)
        name = f"part-{int(time.time() * 1000)}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = f"{folder}/.{name}.tmp"
        pq.write_table(part, tmp, filesystem=fs)
        fs.move(tmp, f"{folder}/{name}")
        written.append(f"{folder}/{name}")
    return written
