"""How a window's rows are drawn: by stratum, from compaction samples where they serve, else streamed.

`window.read_window` plans the strata (`strata`), splits `max_rows` among them (`samples.allocate`) and
takes each stratum's share from its sample (`from_sample`) or from its files (`draw`), so the rows it
returns are a simple random sample of the window either way (docs/drift.md, "Scale").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from gateway.logcontract.census import _READ_ERRORS, FileCensus
from gateway.logcontract.layout import CompactName
from gateway.logcontract.samples import SampleInfo

if TYPE_CHECKING:
    from gateway.logcontract.window import _Scan

__all__ = ["conform", "draw", "from_sample", "strata"]


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A table in the contract's types (dictionary-decoded strings back to plain strings)."""
    return pa.Table.from_arrays(
        [table.column(f.name).cast(f.type) for f in schema], schema=schema
    ).combine_chunks()


def strata(scan: _Scan, files: list[FileCensus]) -> list[tuple[list[FileCensus], SampleInfo | None]]:
    """The window's strata: each compacted set wholly inside it that has a valid sample, then one pool
    of every other file (in the listing's order, so without samples the draw is the plain one)."""
    by_set: dict[tuple[str, int, int], list[FileCensus]] = defaultdict(list)
    pool: list[FileCensus] = []
    for c in files:
        name = CompactName.parse(c.path)
        if name is None:
            pool.append(c)
        else:
            by_set[(c.path.rsplit("/", 1)[0], name.start_ms, name.end_ms)].append(c)
    samples = scan.samples() if by_set else {}
    strata: list[tuple[list[FileCensus], SampleInfo | None]] = []
    for key, group in sorted(by_set.items()):
        names = frozenset(c.path.rsplit("/", 1)[-1] for c in group)
        rows = sum(c.rows for c in group)
        # Valid only for this exact set, every row of which lies in the window (census == population).
        match = [s for s in samples.get(key, []) if s.set_names == names and s.population == rows]
        if match:
            strata.append((group, match[0]))
        else:
            pool += group
    order = {c.path: i for i, c in enumerate(files)}
    pool.sort(key=lambda c: order[c.path])
    return [(pool, None), *strata] if pool else strata


def from_sample(
    scan: _Scan, sample: SampleInfo, value: str, cols: list[str], n: int, schema: pa.Schema
) -> pa.Table | None:
    """The first `n` rows of a sample (a uniform sample of its set), or None to read the set instead."""
    if n > sample.rows:
        return None  # this stratum needs more rows than its sample holds
    if n == 0:
        return schema.empty_table()
    c = FileCensus(sample.path, sample.rows, None, sample.groups_for(n), sample.columns)
    try:
        table = pa.concat_tables([conform(t, schema) for t in scan.batches(c, value, cols)])
    except _READ_ERRORS:
        return None  # a damaged sample: no rows are lost, the set itself is read
    return table.slice(0, n) if table.num_rows >= n else None


def draw(
    scan: _Scan,
    files: list[FileCensus],
    value: str,
    cols: list[str],
    take: npt.NDArray[np.int64] | None,
    schema: pa.Schema,
    advanced: Callable[[int], None],
) -> list[pa.Table]:
    """Rows at the sorted positions `take` of these files' rows in range (None: every row), streamed."""
    kept: list[pa.Table] = []
    offset = 0
    for c in files:
        first, last = offset, offset + c.rows
        offset = last
        lo_i, hi_i = (0, 1) if take is None else np.searchsorted(take, [first, last])
        if hi_i <= lo_i:  # no drawn row in this file: not even opened past its footer
            advanced(c.rows)
            continue
        picked: list[pa.Table] = []
        pos = first
        try:
            for batch in scan.batches(c, value, cols):
                n = batch.num_rows
                if take is None:
                    picked.append(conform(batch, schema))
                else:
                    a, b = np.searchsorted(take, [pos, pos + n])
                    if b > a:
                        picked.append(conform(batch.take(pa.array(take[a:b] - pos)), schema))
                pos += n
        except _READ_ERRORS:
            scan.skipped.append(c.path)  # a damaged page: the file's rows are left out, the rest stand
            advanced(c.rows)
            continue
        kept += picked
        advanced(c.rows)
    return kept
