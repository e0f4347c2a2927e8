"""Compaction, retention and stale temporary files: keep a log at a few large files per partition.

A 2-second flush writes ~43,000 files per day and partition; readers would list and open them all. The
compactor rewrites the CLOSED periods (hours by default) of each partition folder into few large files
(`target_bytes`, default 128 MiB), sorted by `ts` so row-group statistics prune time windows well:

    report = compact_log(uri, PREDICTION_LOG, before=now - timedelta(seconds=flush_seconds), policy=policy)

A period is closed when it ended before `before`; a writer file belongs to the period of its write time
(the epoch milliseconds in its name), so a file that is still being written is never touched as long as
`before` lies at least one flush interval in the past. Atomicity for readers (`layout.live_files`):
the new files are published first, under names that say which writer files they replace and how many
they are (`compact-S-E-kofn`); only then are the writer files deleted. A listing therefore shows each
row once, and a reader whose files vanish mid-read lists again. A compaction that died half-way leaves
an incomplete set, which readers ignore and the next run deletes and redoes; writer files a complete
set already covers are deleted. Run one compactor per log at a time (a CronJob with
`concurrencyPolicy: Forbid`, or `modelgate schedule`).

Beside every set it publishes, the compactor writes a uniform sample of the set's rows
(`sample_rows`, `samples.py`) after the set and before deleting the writer files, so a reader's large
window is drawn from samples instead of every row. A complete set that lacks its sample (compacted by an
older version, or a run that died between the two) gets one on the next run; a sample whose set is gone
is deleted.

Retention deletes whole `date=` folders older than `retention_days`. Temporary files older than
`stale_tmp_s` (left by a killed writer or compactor) are removed. Unreadable writer files are renamed to
`_corrupt-<name>.bad` (kept for inspection) instead of being rewritten or silently dropped.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from gateway.logcontract.atomic import ROW_GROUP_ROWS, parquet_sink
from gateway.logcontract.census import _READ_ERRORS, open_parquet
from gateway.logcontract.layout import CompactName, compact_file_name, is_hidden, part_time_ms, sample_period
from gateway.logcontract.listing import list_day, open_log
from gateway.logcontract.samples import write_sample
from gateway.logcontract.schemas import LogSpec

__all__ = ["CompactionPolicy", "CompactionReport", "compact_log", "publish_set"]

_MS = {"hour": 3_600_000, "day": 86_400_000}


@dataclass(frozen=True)
class CompactionPolicy:
    period: Literal["hour", "day"] = "hour"
    target_bytes: int = 128 * 1024 * 1024
    retention_days: int | None = None
    stale_tmp_s: float = 3600.0
    sample_rows: int = 10_000  # rows of the uniform sample kept beside each set; 0 = keep none


@dataclass
class CompactionReport:
    """What one run did, for the job's result file and the operator."""

    folders: int = 0
    files_in: int = 0
    files_out: int = 0
    rows: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    covered_removed: int = 0  # writer files an earlier, complete compaction had already replaced
    incomplete_removed: int = 0  # files of a compaction that died half-way
    tmp_removed: int = 0
    corrupt: list[str] = field(default_factory=list)
    partitions_deleted: list[str] = field(default_factory=list)
    files_after: int = 0  # live files left in the folders looked at
    samples_written: int = 0  # beside new sets, and for older sets that had none
    samples_removed: int = 0  # samples whose set no longer exists


def _day_folders(fs: pafs.FileSystem, root: str) -> list[tuple[date, str]]:
    infos = fs.get_file_info(pafs.FileSelector(root, allow_not_found=True, recursive=False))
    out = []
    for info in infos:
        name = info.path.rsplit("/", 1)[-1]
        if info.type == pafs.FileType.Directory and name.startswith("date="):
            try:
                out.append((date.fromisoformat(name[len("date=") :]), info.path))
            except ValueError:
                continue
    return sorted(out)


def _size(fs: pafs.FileSystem, path: str) -> int:
    return int(fs.get_file_info(path).size or 0)


class _Folder:
    """One partition folder's files, sorted into writer files, complete sets and broken sets."""

    def __init__(self, files: list[str]) -> None:
        sets: dict[tuple[int, int, int, int], dict[int, str]] = defaultdict(dict)
        self.parts: list[tuple[int, str]] = []
        for f in files:
            c = CompactName.parse(f)
            if c is not None:
                sets[(c.start_ms, c.end_ms, c.count, c.sources)][c.index] = f
            elif (ms := part_time_ms(f)) is not None:
                self.parts.append((ms, f))
        self.complete = {k: v for k, v in sets.items() if set(v) == set(range(1, k[2] + 1))}
        self.incomplete = [f for k, v in sets.items() if k not in self.complete for f in v.values()]
        ranges = [(s, e) for s, e, _, _ in self.complete]
        self.covered = [f for ms, f in self.parts if any(s <= ms < e for s, e in ranges)]
        self.live_parts = [(ms, f) for ms, f in self.parts if not any(s <= ms < e for s, e in ranges)]


def publish_set(
    fs: pafs.FileSystem,
    folder: str,
    spec: LogSpec,
    start_ms: int,
    end_ms: int,
    rows: pa.Table,
    sources: int,
    policy: CompactionPolicy,
    input_bytes: int,
) -> tuple[list[str], int]:
    """Write `rows` as the complete set covering `[start_ms, end_ms)` of `folder`, sorted by `ts`, then
    its sample; return the set's file names and bytes. The caller deletes the `sources` afterwards.
    `input_bytes` (the sources' size on disk) sets how many files of `policy.target_bytes` it takes.

    Also what a backfill or a benchmark uses to lay out a log as compaction leaves it.
    """
    merged = rows.take(pc.sort_indices(rows, [("ts", "ascending")]))
    schema = pa.schema([spec.schema.field(n) for n in merged.column_names])
    merged = merged.cast(schema)
    count = max(1, math.ceil(input_bytes / policy.target_bytes))
    per_file = math.ceil(merged.num_rows / count)
    names, size = [], 0
    for k in range(count):
        chunk = merged.slice(k * per_file, per_file)
        name = compact_file_name(start_ms, end_ms, k + 1, count, sources)
        with parquet_sink(fs, folder, name, schema) as sink:
            sink.write_table(chunk, row_group_size=ROW_GROUP_ROWS)
        names.append(name)
        size += _size(fs, f"{folder}/{name}")
    if policy.sample_rows > 0:
        write_sample(fs, folder, start_ms, end_ms, names, merged, policy.sample_rows)
    return names, size


def _rewrite(
    fs: pafs.FileSystem,
    folder: str,
    spec: LogSpec,
    start_ms: int,
    end_ms: int,
    sources: list[str],
    policy: CompactionPolicy,
    report: CompactionReport,
) -> None:
    """Publish the rows of `sources` as one compacted set covering `[start_ms, end_ms)`, then delete them."""
    tables, readable, size_in = [], [], 0
    n_sources = len(sources)  # corrupt ones included: a reader's listing may have seen them
    for path in sources:
        try:
            table = open_parquet(fs, path).read()
        except _READ_ERRORS:
            # hidden and no longer `.parquet`: neither the readers nor a plain `*.parquet` glob see it
            corrupt = f"{folder}/_corrupt-{path.rsplit('/', 1)[-1]}.bad"
            fs.move(path, corrupt)
            report.corrupt.append(corrupt)
            continue
        tables.append(table.select([n for n in spec.schema.names if n in table.column_names]))
        readable.append(path)
        size_in += _size(fs, path)
    if not tables:
        return
    merged = pa.concat_tables(tables, promote_options="permissive")
    names, bytes_out = publish_set(fs, folder, spec, start_ms, end_ms, merged, n_sources, policy, size_in)
    report.bytes_out += bytes_out
    report.samples_written += int(policy.sample_rows > 0)
    # Published: every reader listing from now on sees the complete set and ignores the sources.
    for path in readable:
        fs.delete_file(path)
    report.files_in += len(readable)
    report.files_out += len(names)
    report.rows += merged.num_rows
    report.bytes_in += size_in


def compact_log(
    uri: str,
    spec: LogSpec,
    *,
    before: datetime,
    policy: CompactionPolicy,
    now: datetime | None = None,
    say: Callable[[str], None] = lambda _m: None,
) -> CompactionReport:
    """Compact every closed period before `before`, apply retention, remove stale temporary files."""
    now = now or datetime.now(UTC)
    fs, root = open_log(uri)
    report = CompactionReport()
    before_ms = int(before.timestamp() * 1000)
    period_ms = _MS[policy.period]
    keep_from = (now - timedelta(days=policy.retention_days)).date() if policy.retention_days else None
    for day, path in _day_folders(fs, root):
        if keep_from is not None and day < keep_from:
            fs.delete_dir(path)
            report.partitions_deleted.append(path)
            say(f"retention: deleted {path}")
            continue
        listing = list_day(fs, root, day)
        for tmp, mtime in listing.tmp:
            if mtime is not None and time.time() - mtime > policy.stale_tmp_s:  # file age: wall clock
                fs.delete_file(tmp)
                report.tmp_removed += 1
        by_folder: dict[str, list[str]] = defaultdict(list)
        for f in listing.parquet:
            if not is_hidden(f):
                by_folder[f.rsplit("/", 1)[0]].append(f)
        for folder, files in sorted(by_folder.items()):
            state = _Folder(files)
            report.folders += 1
            for f in state.incomplete:  # one compactor at a time: a broken set is a dead run's
                fs.delete_file(f)
                report.incomplete_removed += 1
            for f in state.covered:
                fs.delete_file(f)
                report.covered_removed += 1
            _keep_samples(
                fs, folder, state, [p for p in listing.samples if p.startswith(f"{folder}/")], policy, report
            )
            buckets: dict[int, list[str]] = defaultdict(list)
            for ms, f in state.live_parts:
                bucket = ms - ms % period_ms
                if bucket + period_ms <= before_ms:
                    buckets[bucket].append(f)
            buckets = {b: src for b, src in buckets.items() if len(src) > 1}  # one file is already one file
            for bucket, sources in sorted(buckets.items()):
                _rewrite(fs, folder, spec, bucket, bucket + period_ms, sorted(sources), policy, report)
            after = _Folder([i.path for i in _list_files(fs, folder)])
            report.files_after += len(after.live_parts) + sum(len(v) for v in after.complete.values())
        if by_folder:
            say(f"{day}: {report.files_in} files in, {report.files_out} out so far")
    return report


def _list_files(fs: pafs.FileSystem, folder: str) -> list[pafs.FileInfo]:
    infos = fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True, recursive=False))
    return [i for i in infos if i.type == pafs.FileType.File and i.path.endswith(".parquet")]


def _keep_samples(
    fs: pafs.FileSystem,
    folder: str,
    state: _Folder,
    samples: list[str],
    policy: CompactionPolicy,
    report: CompactionReport,
) -> None:
    """Give every complete set of the folder its sample, and delete samples whose set is gone."""
    periods = {(s, e) for s, e, _, _ in state.complete}
    for path in samples:
        if sample_period(path) not in periods:
            fs.delete_file(path)
            report.samples_removed += 1
    if policy.sample_rows <= 0:
        return
    have = {sample_period(p) for p in samples}
    for (start_ms, end_ms, _, _), members in sorted(state.complete.items()):
        if (start_ms, end_ms) in have:
            continue
        names = [members[i] for i in sorted(members)]
        try:
            table = pa.concat_tables(
                [open_parquet(fs, path).read() for path in names], promote_options="permissive"
            )
        except _READ_ERRORS:
            continue  # a damaged set keeps no sample; readers read (and report) it as they can
        write_sample(fs, folder, start_ms, end_ms, names, table, policy.sample_rows)
        report.samples_written += 1
