"""Folder and file names of a log, and which files of a folder hold the live rows.

    <root>/date=2026-11-26/model_version=v3/part-1764160000123-1a2b3c4d.parquet     one writer flush
    <root>/date=2026-11-26/model_version=v3/compact-<start_ms>-<end_ms>-1of2-s<sources>-<hex8>.parquet

Partition values are URL-encoded (`quote(value, safe="")`), which is what pyarrow's hive partitioning
decodes by default, so `Qwen/Qwen2.5-7B` round-trips as the folder `model=Qwen%2FQwen2.5-7B`.

Compaction rule (the reader and the compactor share `live_files`): a compacted set `compact-S-E-kofn-sM`
replaces the M `part-<ms>` files of the same folder with `S <= ms < E`, but only once all `n` of its
files are present. The compactor renames the new files into place first and deletes the parts after, so
a consistent listing shows each row exactly once: parts only, or a complete set (parts it covers
ignored). A listing is not a snapshot, though: one that ran while a set was published may have missed
both the set and some of its parts; `torn` detects that from a second listing and `M`.
Names starting with `.` or `_` (temporary files, markers) are never read as rows.

Beside each complete set the compactor keeps a uniform sample of its rows (`samples.py`):

    <root>/date=2026-11-26/model_version=v3/_sample-<start_ms>-<end_ms>-<hex8>.sample

Hidden and not `.parquet`, so no reader, glob or query engine counts its rows twice.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from urllib.parse import quote, unquote

__all__ = [
    "CompactName",
    "compact_file_name",
    "complete_sets",
    "decode_partition_value",
    "encode_partition_value",
    "is_hidden",
    "live_files",
    "part_file_name",
    "part_time_ms",
    "partition_folder",
    "partition_value",
    "sample_file_name",
    "sample_period",
    "tmp_name",
    "torn",
]

_PART = re.compile(r"^part-(\d{13})-[0-9a-f]{8}\.parquet$")
_COMPACT = re.compile(r"^compact-(\d{13})-(\d{13})-(\d+)of(\d+)-s(\d+)-[0-9a-f]{8}\.parquet$")
_SAMPLE = re.compile(r"^_sample-(\d{13})-(\d{13})-[0-9a-f]{8}\.sample$")
TMP_SUFFIX = ".tmp"
SAMPLE_SUFFIX = ".sample"


def encode_partition_value(value: str) -> str:
    """A partition value as a folder name; an empty value becomes `_` (no folder may be unnamed)."""
    return quote(value, safe="") or "_"


def decode_partition_value(segment_value: str) -> str:
    return unquote(segment_value)


def partition_folder(day: date | str, key: str, value: str) -> str:
    """`date=YYYY-MM-DD/<key>=<encoded value>`, relative to the log's root."""
    day_s = day if isinstance(day, str) else day.isoformat()
    return f"date={day_s}/{key}={encode_partition_value(value)}"


def partition_value(path: str, key: str) -> str | None:
    """The decoded value of the LAST `key=` segment of a path (the root itself may hold such a segment)."""
    for segment in reversed(path.split("/")):
        if segment.startswith(f"{key}="):
            return decode_partition_value(segment[len(key) + 1 :])
    return None


def part_file_name(now_ms: int | None = None) -> str:
    """A writer's file name: its write time in epoch milliseconds and 8 random hex digits."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    return f"part-{ms:013d}-{uuid.uuid4().hex[:8]}.parquet"


def compact_file_name(start_ms: int, end_ms: int, index: int, count: int, sources: int) -> str:
    """File `index` of `count` of the set replacing `sources` writer files written in `[start, end)`."""
    hex8 = uuid.uuid4().hex[:8]
    return f"compact-{start_ms:013d}-{end_ms:013d}-{index}of{count}-s{sources}-{hex8}.parquet"


def sample_file_name(start_ms: int, end_ms: int) -> str:
    """The sample kept beside the compacted set covering `[start, end)`."""
    return f"_sample-{start_ms:013d}-{end_ms:013d}-{uuid.uuid4().hex[:8]}{SAMPLE_SUFFIX}"


def sample_period(name: str) -> tuple[int, int] | None:
    """`(start_ms, end_ms)` of a sample file's set, or None for any other name."""
    m = _SAMPLE.match(name.rsplit("/", 1)[-1])
    return (int(m.group(1)), int(m.group(2))) if m else None


def tmp_name(final_name: str) -> str:
    """The hidden name a file is written under before it is renamed to `final_name`."""
    return f".{final_name}.{uuid.uuid4().hex[:6]}{TMP_SUFFIX}"


def is_hidden(path: str) -> bool:
    return path.rsplit("/", 1)[-1].startswith((".", "_"))


def part_time_ms(name: str) -> int | None:
    """The write time of a writer's file, or None for any other name."""
    m = _PART.match(name.rsplit("/", 1)[-1])
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class CompactName:
    start_ms: int
    end_ms: int
    index: int
    count: int
    sources: int

    @classmethod
    def parse(cls, name: str) -> CompactName | None:
        m = _COMPACT.match(name.rsplit("/", 1)[-1])
        if not m:
            return None
        return cls(*(int(g) for g in m.groups()))


def live_files(paths: Iterable[str]) -> list[str]:
    """The files whose rows count, among the visible Parquet files of a listing (any folders), sorted.

    Hidden names are left out; a complete compacted set hides the part files it covers; an incomplete set
    (the compactor is still renaming, or died half-way) is itself ignored, its parts still count.
    """
    by_folder: dict[str, list[str]] = defaultdict(list)
    for p in paths:
        if p.endswith(".parquet") and not is_hidden(p):
            by_folder[p.rsplit("/", 1)[0] if "/" in p else ""].append(p)
    live: list[str] = []
    for files in by_folder.values():
        sets: dict[tuple[int, int, int], set[int]] = defaultdict(set)
        members: dict[tuple[int, int, int], list[str]] = defaultdict(list)
        for f in files:
            c = CompactName.parse(f)
            if c is not None:
                key = (c.start_ms, c.end_ms, c.count)
                sets[key].add(c.index)
                members[key].append(f)
        complete = [k for k, idx in sets.items() if idx == set(range(1, k[2] + 1))]
        covered = [(s, e) for s, e, _ in complete]
        for f in files:
            if CompactName.parse(f) is not None:
                continue
            ms = part_time_ms(f)
            if ms is not None and any(s <= ms < e for s, e in covered):
                continue
            live.append(f)
        for k in complete:
            live += members[k]
    return sorted(live)


def complete_sets(paths: Iterable[str]) -> set[tuple[str, int, int, int, int]]:
    """The complete compacted sets of a listing, as (folder, start_ms, end_ms, count, sources)."""
    seen: dict[tuple[str, int, int, int, int], set[int]] = defaultdict(set)
    for p in paths:
        c = CompactName.parse(p)
        if c is not None and not is_hidden(p):
            seen[(p.rsplit("/", 1)[0], c.start_ms, c.end_ms, c.count, c.sources)].add(c.index)
    return {k for k, idx in seen.items() if idx == set(range(1, k[3] + 1))}


def torn(first: list[str], second: list[str]) -> bool:
    """Whether `first` may have missed rows: a set complete in the later listing `second` but not in
    `first`, of which `first` saw fewer writer files than the set replaces (they were deleted before the
    listing reached them, while the set itself was not yet there)."""
    new = complete_sets(second) - complete_sets(first)
    if not new:
        return False
    parts: dict[str, list[int]] = defaultdict(list)
    for p in first:
        ms = part_time_ms(p)
        if ms is not None:
            parts[p.rsplit("/", 1)[0]].append(ms)
    return any(sum(s <= ms < e for ms in parts[folder]) < m for folder, s, e, _, m in new)
