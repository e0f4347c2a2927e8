"""The label store: every distinct label record ever ingested, as Parquet partitioned by `known_at` month.

Layout, next to the prediction log (`monitoring.labels_uri`, default `<data_dir>/labels`):

    <uri>/known_month=YYYY-MM/part-<epoch_ms>-<uuid8>.parquet
    columns: customer_id string, churned int8 (0/1), known_at timestamp[us, UTC],
             ingested_at timestamp[us, UTC], source string (the export's file name), line int64

Ingest only appends records whose (customer_id, known_at, churned) is not stored yet, so ingesting the
same export twice writes nothing, and a retry after a crash writes only what is missing. Nothing is ever
rewritten: corrections are resolved at read time. `current_labels` keeps, for each customer and `known_at`,
the record ingested last (a corrected export wins over the original, whatever order lines had), and the
join then takes, per prediction, the newest of its customer's labels inside the prediction's window —
newest by `known_at`, then by ingestion (docs/labels.md).

    added = append_records(uri, parsed.records, source="billing.csv", ingested_at=now)
    labels = current_labels(read_records(uri))      # one row per (customer_id, known_at)
"""

from __future__ import annotations

import os
import uuid

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

__all__ = ["LABEL_SCHEMA", "append_records", "current_labels", "new_records", "read_records"]

LABEL_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("churned", pa.int8()),
        ("known_at", pa.timestamp("us", tz="UTC")),
        ("ingested_at", pa.timestamp("us", tz="UTC")),
        ("source", pa.string()),
        ("line", pa.int64()),
    ]
)
_KEY = ["customer_id", "known_at", "churned"]
_PARTITION = "known_month"


def _filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    if "://" not in uri:
        uri = os.path.abspath(uri)
    fs, path = pafs.FileSystem.from_uri(uri)
    return fs, path.rstrip("/")


def _empty() -> pd.DataFrame:
    return LABEL_SCHEMA.empty_table().to_pandas()


def read_records(
    uri: str, *, known_from: pd.Timestamp | None = None, known_to: pd.Timestamp | None = None
) -> pd.DataFrame:
    """All stored records (optionally only those with `known_from <= known_at <= known_to`)."""
    fs, root = _filesystem(uri)
    info = fs.get_file_info(root)
    if info.type != pafs.FileType.Directory:
        return _empty()
    # Partition pruning: a month directory outside the range holds no record in it.
    months = pa.schema([(_PARTITION, pa.string())])
    dataset = ds.dataset(
        root, filesystem=fs, format="parquet", partitioning=ds.partitioning(months, flavor="hive")
    )
    expr = None
    if known_from is not None:
        expr = ds.field(_PARTITION) >= known_from.strftime("%Y-%m")
    if known_to is not None:
        upper = ds.field(_PARTITION) <= known_to.strftime("%Y-%m")
        expr = upper if expr is None else expr & upper
    table = dataset.to_table(columns=LABEL_SCHEMA.names, filter=expr)
    frame = table.cast(LABEL_SCHEMA).to_pandas()
    if known_from is not None:
        frame = frame[frame["known_at"] >= known_from]
    if known_to is not None:
        frame = frame[frame["known_at"] <= known_to]
    return frame.reset_index(drop=True)


def new_records(existing: pd.DataFrame, incoming: pd.DataFrame) -> pd.DataFrame:
    """The incoming records whose (customer_id, known_at, churned) is not in `existing`. Pure."""
    if incoming.empty or existing.empty:
        return incoming.reset_index(drop=True)
    seen = existing[_KEY].drop_duplicates()
    merged = incoming.merge(seen, on=_KEY, how="left", indicator=True)
    return merged[merged["_merge"] == "left_only"].drop(columns="_merge").reset_index(drop=True)


def append_records(uri: str, records: pd.DataFrame, *, source: str, ingested_at: pd.Timestamp) -> int:
    """Store the records (customer_id, churned, known_at, line) not stored yet; return how many were added."""
    if records.empty:
        return 0
    lo, hi = records["known_at"].min(), records["known_at"].max()
    fresh = new_records(read_records(uri, known_from=lo, known_to=hi), records)
    if fresh.empty:
        return 0
    frame = fresh[["customer_id", "churned", "known_at", "line"]].copy()
    frame["ingested_at"] = ingested_at
    frame["source"] = source
    table = pa.Table.from_pandas(frame[LABEL_SCHEMA.names], schema=LABEL_SCHEMA, preserve_index=False)
    fs, root = _filesystem(uri)
    months = frame["known_at"].dt.strftime("%Y-%m").to_numpy()
    stamp = f"{int(ingested_at.timestamp() * 1000)}-{uuid.uuid4().hex[:8]}"
    for month in sorted(set(months)):
        part = table.filter(pa.array(months == month))
        folder = f"{root}/{_PARTITION}={month}"
        fs.create_dir(folder, recursive=True)
        # Written under a dot-name (dataset discovery skips those) and renamed, so a reader never sees
        # half a file; a crash between months leaves a state that the next ingest completes.
        tmp, final = f"{folder}/.tmp-{stamp}.parquet", f"{folder}/part-{stamp}.parquet"
        pq.write_table(part, tmp, filesystem=fs)
        fs.move(tmp, final)
    return len(frame)


def current_labels(records: pd.DataFrame) -> pd.DataFrame:
    """One label per (customer_id, known_at): the record ingested last (then the later line). Pure.

    Returns customer_id, churned, known_at, ingested_at, sorted by customer_id then known_at.
    """
    columns = ["customer_id", "churned", "known_at", "ingested_at"]
    if records.empty:
        return records.reindex(columns=columns).reset_index(drop=True)
    order = records.sort_values(["customer_id", "known_at", "ingested_at", "line"], kind="mergesort")
    latest = order.drop_duplicates(["customer_id", "known_at"], keep="last")
    return latest[columns].reset_index(drop=True)
