"""Folder and file names of a log, and which files of a folder hold the live rows.

    <root>/date=2026-11-26/model_version=v3/part-1764160000123-1a2b3c4d.parquet     one writer flush
    <root>/date=2026-11-26/model_version=v3/compact-<start_ms>-<end_ms>-1of2-<hex8>.parquet

Partition values are URL-encoded (`quote(value, safe="")`), which is what pyarrow's hive partitioning
decodes by default, so `Qwen/Qwen2.5-7B` round-trips as the folder `model=Qwen%2FQwen2.5-7B`.

Compaction rule (the reader and the compactor share `live_files`): a compacted set `compact-S-E-kofn`
replaces every `part-<ms>` file of the same folder with `S <= ms < E`, but only once all `n` of its files
are present. The compactor renames the new files into place first and deletes the parts after, so any
listing shows each row exactly once: parts only, or a complete compacted set (parts it covers ignored).
Names starting with `.` or `_` (temporary files, markers) are never read.
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
    "decode_partition_value",
    "encode_partition_value",
    "is_hidden",
    "live_files",
    "part_file_name",
    "part_time_ms",
    "partition_folder",
    "partition_value",
    "tmp_name",
]

_PART = re.compile(r"^part-(\d{13})-[0-9a-f]{8}\.parquet$")
_COMPACT = re.compile(r"^compact-(\d{13})-(\d{13})-(\d+)of(\d+)-[0-9a-f]{8}\.parquet$")
TMP_SUFFIX = ".tmp"


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


def compact_file_name(start_ms: int, end_ms: int, index: int, count: int) -> str:
    return f"compact-{start_ms:013d}-{end_ms:013d}-{index}of{count}-{uuid.uuid4().hex[:8]}.parquet"


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

    @classmethod
    def parse(cls, name: str) -> CompactName | None:
        m = _COMPACT.match(name.rsplit("/", 1)[-1])
        if not m:
            return None
        return cls(int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4)))


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
