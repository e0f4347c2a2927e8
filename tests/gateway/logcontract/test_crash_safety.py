"""Crash safety of the log files: fsync before and after the rename, no temporary file left by a failed
write, and readers that skip a truncated file, say so, and still give a verdict."""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from adapters.churn.generator import generate_customers
from gateway.logcontract import atomic
from gateway.logcontract.layout import part_file_name
from gateway.logcontract.rows import churn_partition, write_prediction_rows
from gateway.logcontract.schemas import TS_TYPE
from gateway.logcontract.window import read_window
from gateway.logwriter import ParquetLogWriter

END = datetime(2025, 3, 10, tzinfo=UTC)


def test_a_file_and_its_folder_are_fsynced_before_the_name_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    folder = tmp_path / "log" / "date=2025-03-09" / "model=m"
    path = atomic.write_parquet(
        atomic.pafs.LocalFileSystem(), str(folder), part_file_name(), pa.table({"a": [1, 2]})
    )
    tmp_synced = [p for p in synced if p.endswith(".tmp")]
    assert len(tmp_synced) == 1 and tmp_synced[0].startswith(str(folder) + "/.part-")
    # the folder after the rename, and each new folder's parent so the new entries survive a crash
    assert synced.index(str(folder)) > synced.index(tmp_synced[0])
    assert {str(folder), str(folder.parent), str(folder.parent.parent)} <= set(synced)
    assert Path(path).exists() and not list(folder.glob(".*"))


def test_a_failed_write_leaves_no_temporary_file_and_counts_the_rows_dropped(tmp_path: Path) -> None:
    # Parquet cannot store a struct without fields: the write fails after the file was opened.
    schema = pa.schema([("ts", TS_TYPE), ("x", pa.struct([])), ("model_version", pa.string())])
    outcomes: Counter[str] = Counter()
    writer = ParquetLogWriter(
        str(tmp_path / "log"),
        schema,
        partition_by=churn_partition,
        flush_seconds=60,
        on_outcome=lambda outcome, n: outcomes.update({outcome: n}),
    )
    writer.start()
    for _ in range(3):
        writer.submit({"ts": END, "x": {}, "model_version": "v1"})
    writer.close()
    assert outcomes == {"dropped": 3}
    assert [p for p in (tmp_path / "log").rglob("*") if p.is_file()] == []


def _rows(n: int) -> object:
    frame = generate_customers(n, seed=3)
    frame.insert(0, "ts", [END - timedelta(hours=20) + i * timedelta(seconds=30) for i in range(n)])
    frame.insert(1, "request_id", [f"r{i}" for i in range(n)])
    frame.insert(2, "tenant", "acme")
    frame["churn_probability"] = np.linspace(0.05, 0.95, n)
    frame["prediction"] = np.where(frame["churn_probability"] >= 0.5, "churn", "no_churn")
    return frame


def test_a_truncated_file_is_skipped_and_the_rest_is_read(tmp_path: Path) -> None:
    log = tmp_path / "log"
    paths = [write_prediction_rows(str(log), _rows(400), "v1")[0] for _ in range(3)]
    victim = Path(paths[1])
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) * 2 // 3])  # what a crash without fsync + rename leaves
    win = read_window(str(log), days=1, end=END, columns=["tenure_months"])
    assert win.skipped_files == (str(victim),)
    assert win.n_rows_total == win.n_rows == 800
