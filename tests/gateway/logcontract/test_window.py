"""The prediction-log window reader and its test/simulation writer, on real Parquet files."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adapters.churn.generator import generate_customers
from gateway.logcontract.rows import write_prediction_rows
from gateway.logcontract.window import (
    LogReadError,
    MissingColumnError,
    list_versions,
    read_window,
    window_bounds,
)

END = datetime(2025, 3, 10, tzinfo=UTC)


def rows(n: int, start: datetime, span: timedelta, *, seed: int = 0, tenant: str = "acme") -> pd.DataFrame:
    """`n` contract rows with `ts` spread evenly over `[start, start + span)`."""
    frame = generate_customers(n, seed=seed)
    step = span / n
    frame.insert(0, "ts", [start + i * step for i in range(n)])
    frame.insert(1, "request_id", [f"r{seed}-{i}" for i in range(n)])
    frame.insert(2, "tenant", tenant)
    frame["churn_probability"] = np.linspace(0.0, 1.0, n)
    frame["prediction"] = np.where(frame["churn_probability"] >= 0.5, "churn", "no_churn")
    return frame


def test_window_bounds_is_half_open_utc_and_refuses_bad_days() -> None:
    start, end = window_bounds(7, datetime(2025, 3, 10, 12))
    assert end == datetime(2025, 3, 10, 12, tzinfo=UTC)
    assert start == end - timedelta(days=7)
    with pytest.raises(LogReadError):
        window_bounds(0, END)


def test_writer_follows_the_documented_layout(tmp_path: Path) -> None:
    # Two UTC dates in one frame become two files, one per date partition.
    paths = write_prediction_rows(
        str(tmp_path), rows(10, END - timedelta(hours=5), timedelta(hours=10)), "v1"
    )
    assert len(paths) == 2
    pattern = r"date=(2025-03-09|2025-03-10)/model_version=v1/part-\d{13}-[0-9a-f]{8}\.parquet$"
    assert all(re.search(pattern, p) for p in paths)
    schema = pq.read_schema(paths[0])
    assert schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert schema.field("trace_id").type == pa.string()
    assert "model_version" not in schema.names and "date" not in schema.names


def test_writer_refuses_naive_timestamps_and_missing_columns(tmp_path: Path) -> None:
    frame = rows(3, END - timedelta(hours=1), timedelta(minutes=30))
    naive = frame.assign(ts=frame["ts"].dt.tz_localize(None))
    with pytest.raises(ValueError, match="timezone-aware"):
        write_prediction_rows(str(tmp_path), naive, "v1")
    with pytest.raises(ValueError, match="tenant"):
        write_prediction_rows(str(tmp_path), frame.drop(columns=["tenant"]), "v1")


@pytest.fixture()
def two_version_log(tmp_path: Path) -> str:
    """v1 on days -3..-1 (600 rows a day), v2 on the last day only (300 rows), plus an old v0 day."""
    uri = str(tmp_path / "log")
    for d in (3, 2, 1):
        write_prediction_rows(uri, rows(600, END - timedelta(days=d), timedelta(days=1), seed=d), "v1")
    write_prediction_rows(uri, rows(300, END - timedelta(hours=12), timedelta(hours=12), seed=9), "v2")
    write_prediction_rows(uri, rows(50, END - timedelta(days=30), timedelta(hours=1), seed=5), "v0")
    return uri


def test_window_counts_every_version_and_defaults_to_the_latest_one(two_version_log: str) -> None:
    win = read_window(two_version_log, days=2, end=END, columns=["tenure_months", "model_version"])
    assert win.versions_seen == {"v1": 1200, "v2": 300}
    # v2 served the latest prediction, so it is the default even though v1 has more rows.
    assert win.model_version == "v2"
    assert win.n_rows_total == win.n_rows == 300
    assert win.table.column_names == ["tenure_months", "model_version"]
    assert set(win.table.column("model_version").to_pylist()) == {"v2"}
    assert not win.sampled
    assert (win.start, win.end) == (END - timedelta(days=2), END)


def test_window_reads_one_version_and_only_rows_in_range(two_version_log: str) -> None:
    end = END - timedelta(hours=12)
    win = read_window(two_version_log, days=1, end=end, model_version="v1", columns=["ts", "date"])
    ts = win.table.column("ts").to_pylist()
    assert min(ts) >= end - timedelta(days=1) and max(ts) < end
    # Rows are spread evenly, 600 a day: the half-day boundaries cut exactly at row 300.
    assert win.n_rows == 600
    assert win.versions_seen == {"v1": 600}
    assert set(win.table.column("date").to_pylist()) == {"2025-03-08", "2025-03-09"}


def test_window_of_a_version_without_rows_is_empty_but_names_what_was_seen(two_version_log: str) -> None:
    win = read_window(two_version_log, days=2, end=END, model_version="v0", columns=["tenure_months"])
    assert win.n_rows == win.n_rows_total == 0
    assert win.model_version == "v0"
    assert win.versions_seen == {"v1": 1200, "v2": 300}
    assert win.table.column_names == ["tenure_months"]


def test_missing_folder_gives_an_empty_window(tmp_path: Path) -> None:
    win = read_window(str(tmp_path / "nothing"), days=7, end=END, columns=["tenure_months"])
    assert (win.n_rows, win.model_version, win.versions_seen) == (0, None, {})


def test_unknown_column_is_a_clear_error(two_version_log: str) -> None:
    with pytest.raises(MissingColumnError, match="no_such_column"):
        read_window(two_version_log, days=2, end=END, columns=["tenure_months", "no_such_column"])


def test_dates_outside_the_window_are_never_opened(two_version_log: str) -> None:
    # A corrupt file in an old date partition and a hidden half-written file in range are both
    # ignored: the first by date pruning at listing time, the second because writers rename into place.
    old = Path(two_version_log) / "date=2025-01-01" / "model_version=v1"
    old.mkdir(parents=True)
    (old / "part-1-deadbeef.parquet").write_bytes(b"not parquet")
    today = Path(two_version_log) / "date=2025-03-09" / "model_version=v2"
    (today / ".part-2-cafebabe.parquet.tmp").write_bytes(b"half written")
    win = read_window(two_version_log, days=2, end=END, model_version="v1", columns=["tenure_months"])
    assert win.n_rows == 1200


def test_a_corrupt_file_is_skipped_and_named(two_version_log: str) -> None:
    kwargs = {"days": 2, "end": END, "model_version": "v1", "columns": ["tenure_months"]}
    before = read_window(two_version_log, **kwargs)  # type: ignore[arg-type]
    folder = Path(two_version_log) / "date=2025-03-09" / "model_version=v1"
    bad = folder / "part-3-00000000.parquet"
    bad.write_bytes(b"not parquet")
    # A crash mid-write without the atomic rename: a real file cut off half-way.
    good = sorted(folder.glob("part-*.parquet"))[0]
    cut = folder / "part-1700000000000-0badf00d.parquet"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    after = read_window(two_version_log, **kwargs)  # type: ignore[arg-type]
    assert set(after.skipped_files) == {str(bad), str(cut)}
    assert after.n_rows == before.n_rows and before.skipped_files == ()


def test_large_window_is_a_seeded_uniform_sample(two_version_log: str) -> None:
    kwargs = {"days": 3, "end": END, "model_version": "v1", "columns": ["request_id", "ts"]}
    full = read_window(two_version_log, **kwargs)  # type: ignore[arg-type]
    a = read_window(two_version_log, max_rows=500, seed=1, **kwargs)  # type: ignore[arg-type]
    b = read_window(two_version_log, max_rows=500, seed=1, **kwargs)  # type: ignore[arg-type]
    c = read_window(two_version_log, max_rows=500, seed=2, **kwargs)  # type: ignore[arg-type]
    assert (a.n_rows, a.n_rows_total, a.sampled) == (500, 1800, True)
    ids = a.table.column("request_id").to_pylist()
    assert len(set(ids)) == 500 and set(ids) <= set(full.table.column("request_id").to_pylist())
    assert ids == b.table.column("request_id").to_pylist()
    assert ids != c.table.column("request_id").to_pylist()
    # Uniform over the window: each of the three days holds about a third of the sample.
    days = pd.Series(a.table.column("ts").to_pandas()).dt.date.value_counts()
    assert days.min() > 120 and days.max() < 215


def test_progress_reports_rows_read_up_to_the_total(two_version_log: str) -> None:
    calls: list[tuple[int, int]] = []
    read_window(
        two_version_log,
        days=3,
        end=END,
        model_version="v1",
        columns=["tenure_months"],
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls and calls[-1] == (1800, 1800)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_list_versions_and_file_uris(two_version_log: str) -> None:
    assert list_versions(two_version_log, 2, END) == {"v1": 1200, "v2": 300}
    # A URI goes through pyarrow.fs.FileSystem.from_uri, as an object-store one would.
    assert list_versions(f"file://{two_version_log}", 40, END) == {"v0": 50, "v1": 1800, "v2": 300}
