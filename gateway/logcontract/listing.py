"""Open a log URI and list the live files of the `date=` folders a time range touches.

Only the folders of the range's UTC dates are listed (pruning by date, so a reader never walks the whole
tree), and `layout.live_files` applies the compaction rule. Stale temporary files are listed separately
for the compactor to clean.

    fs, root = open_log(uri)
    files = list_live(fs, root, dates_between(start, end))
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pyarrow as pa
import pyarrow.fs as pafs

from gateway.logcontract.layout import SAMPLE_SUFFIX, TMP_SUFFIX, live_files

__all__ = ["Listing", "LogReadError", "dates_between", "list_day", "list_live", "open_log"]


class LogReadError(Exception):
    """A log cannot be opened, listed or read as asked. The message is one line for the user."""


def open_log(uri: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem and root path of a log URI; plain paths are local (relative ones made absolute).

    `s3://bucket/prefix` reads the standard AWS variables (`AWS_ENDPOINT_URL`, `AWS_REGION`, keys);
    `gs://bucket/prefix` the Google ones.
    """
    if "://" not in uri:
        return pafs.LocalFileSystem(), os.path.abspath(uri)
    if uri.startswith("file://"):
        return pafs.LocalFileSystem(), os.path.abspath(uri[len("file://") :])
    try:
        fs, root = pafs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise LogReadError(f"cannot open log URI {uri}: {exc}") from exc
    return fs, root.rstrip("/")


def dates_between(start: datetime, end: datetime) -> list[date]:
    """The UTC dates the half-open range `[start, end)` touches."""
    first = start.date()
    last = (end - timedelta(microseconds=1)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@dataclass(frozen=True)
class Listing:
    """One folder tree's Parquet files, its compaction samples, and its temporary files with their
    modification times."""

    parquet: list[str]
    tmp: list[tuple[str, float | None]]
    samples: list[str] = field(default_factory=list)


def list_day(fs: pafs.FileSystem, root: str, day: date | str) -> Listing:
    """Every file under `<root>/date=<day>` (all partition values); missing folder = empty."""
    day_s = day if isinstance(day, str) else day.isoformat()
    selector = pafs.FileSelector(f"{root}/date={day_s}", allow_not_found=True, recursive=True)
    try:
        infos = fs.get_file_info(selector)
    except OSError as exc:
        raise LogReadError(f"cannot list {root}/date={day_s}: {exc}") from exc
    parquet: list[str] = []
    tmp: list[tuple[str, float | None]] = []
    samples: list[str] = []
    for info in infos:
        if info.type != pafs.FileType.File:
            continue
        if info.path.endswith(TMP_SUFFIX):
            mtime = info.mtime.timestamp() if info.mtime is not None else None
            tmp.append((info.path, mtime))
        elif info.path.endswith(".parquet"):
            parquet.append(info.path)
        elif info.path.endswith(SAMPLE_SUFFIX):
            samples.append(info.path)
    return Listing(parquet, tmp, samples)


def list_parquet(fs: pafs.FileSystem, root: str, days: list[date]) -> list[str]:
    """Every visible-or-not Parquet file of these days (`live_files` picks the ones that count)."""
    files: list[str] = []
    for day in days:
        files += list_day(fs, root, day).parquet
    return files


def list_live(fs: pafs.FileSystem, root: str, days: list[date]) -> list[str]:
    """The live Parquet files of these days, sorted (one fixed order keeps seeded samples reproducible)."""
    return live_files(list_parquet(fs, root, days))
