"""Uniform samples of compacted sets, kept at compaction time, so a large window is read by sample.

When the compactor publishes a set (`compact-S-E-kofn`, every row one partition value wrote in
`[S, E)`), it also writes `_sample-S-E-<hex8>.sample` beside it: `min(rows, sample_rows)` of the set's
rows drawn uniformly without replacement, stored IN RANDOM ORDER in row groups of 1,024 rows, with the
set's file names and its row count (the stratum's population) in the Parquet footer. Because the order
is random, the first `n` rows of a sample are themselves a uniform sample of `n` rows of the set, so a
reader that needs `n` rows of an hour decodes `ceil(n / 1024)` small row groups and nothing else.

A window's sample is then drawn stratum by stratum (`allocate`): the strata are the sets lying wholly
inside the window that have a valid sample, plus one pool of everything else (writer files, sets at the
window's edges, sets without a sample). The number of rows drawn from each stratum comes from one
multivariate hypergeometric draw over the strata's row counts, which is exactly the distribution of
those counts in a simple random sample of the whole window, so the combined rows are a simple random
sample of the window, as if every row had been read (docs/drift.md, "Scale"). A stratum that needs more
rows than its sample holds (a short window, one very busy hour) is drawn from its rows instead.

    info = read_sample_info(fs, path)            # None when the file is not a usable sample
    counts = allocate([s.rows for s in strata], max_rows, rng)
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.fs as pafs

from gateway.logcontract.atomic import write_parquet
from gateway.logcontract.census import _READ_ERRORS, open_parquet
from gateway.logcontract.layout import sample_file_name, sample_period

__all__ = [
    "SAMPLE_ROW_GROUP_ROWS",
    "SampleInfo",
    "allocate",
    "read_sample_info",
    "write_sample",
]

# Small row groups: a reader needing a few hundred rows of an hour decodes one of them.
SAMPLE_ROW_GROUP_ROWS = 1024
_META_SET = b"modelgate.sample.set"  # comma-separated file names of the set the sample was drawn from
_META_POPULATION = b"modelgate.sample.population"  # rows of that set


@dataclass(frozen=True)
class SampleInfo:
    """One sample file: which set it belongs to, how many rows that set has and the sample holds."""

    path: str
    start_ms: int
    end_ms: int
    set_names: frozenset[str]
    population: int
    group_rows: tuple[int, ...]
    columns: tuple[str, ...]

    @property
    def rows(self) -> int:
        return sum(self.group_rows)

    def groups_for(self, n: int) -> tuple[int, ...]:
        """The leading row groups that hold at least the first `n` rows."""
        out, have = [], 0
        for i, rows in enumerate(self.group_rows):
            if have >= n:
                break
            out.append(i)
            have += rows
        return tuple(out)


def _seed(folder: str, start_ms: int) -> int:
    """A seed fixed by the set's place, so compacting the same rows again keeps the same sample."""
    return zlib.crc32(f"{folder}|{start_ms}".encode())


def write_sample(
    fs: pafs.FileSystem,
    folder: str,
    start_ms: int,
    end_ms: int,
    set_names: Sequence[str],
    table: pa.Table,
    sample_rows: int,
) -> str:
    """Write the sample of a published set (all of whose rows are `table`); return its path."""
    n = min(table.num_rows, sample_rows)
    partition = "/".join(folder.rstrip("/").rsplit("/", 2)[-2:])  # date=…/key=…, not where the root is
    rng = np.random.default_rng(_seed(partition, start_ms))
    order = rng.choice(table.num_rows, size=n, replace=False)  # random order: every prefix is uniform
    sample = table.take(pa.array(order))
    names = ",".join(name.rsplit("/", 1)[-1] for name in set_names)
    sample = sample.replace_schema_metadata(
        {
            **(sample.schema.metadata or {}),
            _META_SET: names.encode(),
            _META_POPULATION: b"%d" % table.num_rows,
        }
    )
    return write_parquet(
        fs, folder, sample_file_name(start_ms, end_ms), sample, row_group_rows=SAMPLE_ROW_GROUP_ROWS
    )


def read_sample_info(fs: pafs.FileSystem, path: str) -> SampleInfo | None:
    """The footer of a sample file; None when it is not a readable sample (then the set is read).

    A sample that vanished raises `census.Vanished`, like any listed file: the reader lists again.
    """
    period = sample_period(path)
    if period is None:
        return None
    try:
        pf = open_parquet(fs, path)
    except _READ_ERRORS:
        return None
    meta = pf.schema_arrow.metadata or {}
    try:
        names = frozenset(meta[_META_SET].decode().split(","))
        population = int(meta[_META_POPULATION])
    except (KeyError, ValueError, UnicodeDecodeError):
        return None
    md = pf.metadata
    groups = tuple(md.row_group(i).num_rows for i in range(md.num_row_groups))
    return SampleInfo(path, *period, names, population, groups, tuple(pf.schema_arrow.names))


def allocate(rows: Sequence[int], n: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """How many of `n` drawn rows fall in each stratum, as in a simple random sample of all of them.

    One multivariate hypergeometric draw (an urn with `rows[i]` balls of colour i, `n` drawn without
    replacement); `n` must not exceed `sum(rows)`.
    """
    counts = np.asarray(rows, dtype=np.int64)
    if len(counts) == 1:
        return np.array([n], dtype=np.int64)
    return rng.multivariate_hypergeometric(counts, n, method="marginals").astype(np.int64)
