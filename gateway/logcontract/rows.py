"""Append a table of rows to a log in the contract's layout (tests, simulation, benchmarks, backfills).

The gateway has its own batched writer (`gateway.logwriter`); both name folders and files through
`layout` and write through `atomic.write_parquet`, so what they write is the same contract.

    write_rows(uri, PREDICTION_LOG, frame, "v3")       # one new file per UTC date of `ts`
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from gateway.logcontract.atomic import write_parquet
from gateway.logcontract.layout import part_file_name, partition_folder
from gateway.logcontract.listing import open_log
from gateway.logcontract.schemas import LLM_LOG, PREDICTION_LOG, LogSpec

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "as_log_table",
    "churn_partition",
    "llm_partition",
    "partition_of",
    "write_prediction_rows",
    "write_rows",
]


def partition_of(spec: LogSpec) -> Callable[[dict[str, Any]], str]:
    """The folder of one row dict: its UTC date of `ts` and its partition value."""
    key = spec.partition_key

    def folder(row: dict[str, Any]) -> str:
        ts: datetime = row["ts"]
        day = (ts.astimezone(UTC) if ts.tzinfo is not None else ts).date()
        return partition_folder(day, key, str(row[key]))

    return folder


churn_partition = partition_of(PREDICTION_LOG)
llm_partition = partition_of(LLM_LOG)


def as_log_table(spec: LogSpec, rows: pd.DataFrame | pa.Table) -> pa.Table:
    """Rows in the log's schema; nullable columns may be left out (then null). ValueError names the gap."""
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_pandas(rows, preserve_index=False)
    for f in spec.schema:
        if f.name not in table.column_names and f.nullable:
            table = table.append_column(f.name, pa.nulls(table.num_rows, f.type))
    missing = [n for n in spec.schema.names if n not in table.column_names]
    if missing:
        raise ValueError(f"{spec.name} rows lack column(s) {', '.join(missing)}")
    table = table.select(spec.schema.names)
    ts_type = table.schema.field("ts").type
    if pa.types.is_timestamp(ts_type) and ts_type.tz is None:
        raise ValueError(f"{spec.name} rows: `ts` must be timezone-aware (UTC)")
    return table.cast(spec.schema)


def write_rows(log_uri: str, spec: LogSpec, rows: pd.DataFrame | pa.Table, value: str) -> list[str]:
    """Append `rows` (all of one partition value) as one new file per UTC date; return the paths."""
    if not value:
        raise ValueError(f"{spec.partition_key} must be a non-empty name, got {value!r}")
    table = as_log_table(spec, rows)
    if table.num_rows == 0:
        return []
    fs, root = open_log(log_uri)
    days = pc.strftime(table.column("ts"), format="%Y-%m-%d")
    written: list[str] = []
    for day in sorted(pc.unique(days).to_pylist()):
        part = table.filter(pc.equal(days, day))
        folder = f"{root}/{partition_folder(day, spec.partition_key, value)}"
        written.append(write_parquet(fs, folder, part_file_name(), part))
    return written


def write_prediction_rows(log_uri: str, rows: pd.DataFrame | pa.Table, model_version: str) -> list[str]:
    """`write_rows` for the churn prediction log; a version may not contain '/'."""
    if "/" in model_version:
        raise ValueError(f"model_version must be a non-empty name without '/', got {model_version!r}")
    return write_rows(log_uri, PREDICTION_LOG, rows, model_version)
