from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.dataset as ds

from gateway.logcontract.rows import churn_partition
from gateway.logcontract.schemas import PREDICTION_LOG_SCHEMA as CHURN_LOG_SCHEMA
from gateway.logwriter import ParquetLogWriter


def _row(i: int, day: int = 26, version: str = "v1") -> dict:
    return {
        "ts": datetime(2026, 11, day, 12, 0, tzinfo=UTC),
        "request_id": f"r{i}",
        "trace_id": None,
        "tenant": "acme",
        "customer_id": f"c{i}",
        "tenure_months": i,
        "monthly_charges": 50.0,
        "total_charges": 500.0,
        "support_tickets": 1,
        "contract_type": "one_year",
        "payment_method": "credit_card",
        "internet_service": "dsl",
        "churn_probability": 0.25,
        "prediction": "no_churn",
        "model_version": version,
    }


def test_rows_land_partitioned_by_date_and_version_and_close_flushes(tmp_path: Path) -> None:
    outcomes: Counter[str] = Counter()
    writer = ParquetLogWriter(
        str(tmp_path / "log"),
        CHURN_LOG_SCHEMA,
        partition_by=churn_partition,
        flush_rows=1000,
        flush_seconds=60,  # only close() flushes here
        on_outcome=lambda outcome, n: outcomes.update({outcome: n}),
    )
    writer.start()
    for i in range(30):
        assert writer.submit(_row(i, day=25 + i % 2, version=("v1", "v2")[i % 3 == 0]))
    writer.close()
    assert outcomes == {"written": 30}
    folders = sorted(
        p.relative_to(tmp_path / "log").parent.as_posix() for p in (tmp_path / "log").rglob("*.parquet")
    )
    assert set(folders) == {
        "date=2026-11-25/model_version=v1",
        "date=2026-11-25/model_version=v2",
        "date=2026-11-26/model_version=v1",
        "date=2026-11-26/model_version=v2",
    }
    assert not list((tmp_path / "log").rglob(".*"))  # no temp file left behind
    table = ds.dataset(tmp_path / "log", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 30 and set(table.column("model_version").to_pylist()) == {"v1", "v2"}


def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def count(outcome: str, n: int) -> None:
        with lock:
            outcomes[outcome] += n

    writer = ParquetLogWriter(
        str(tmp_path / "log"), CHURN_LOG_SCHEMA, partition_by=churn_partition, queue_size=10, on_outcome=count
    )
    # Not started: nothing drains the queue, so the 11th row onwards must be refused at once.
    accepted = [writer.submit(_row(i)) for i in range(25)]
    assert accepted.count(True) == 10 and accepted.count(False) == 15
    assert outcomes["dropped"] == 15
    writer.start()
    writer.close()
    assert outcomes["written"] == 10


def test_a_failed_write_is_counted_as_dropped_not_lost_silently(tmp_path: Path) -> None:
    outcomes: Counter[str] = Counter()
    writer = ParquetLogWriter(
        str(tmp_path / "log"),
        CHURN_LOG_SCHEMA,
        partition_by=churn_partition,
        on_outcome=lambda outcome, n: outcomes.update({outcome: n}),
    )
    writer.start()
    bad = _row(1)
    bad["tenure_months"] = "not a number"  # cannot become int64
    writer.submit(bad)
    writer.close()
    assert outcomes == {"dropped": 1}


def test_rows_are_flushed_after_flush_seconds_without_close(tmp_path: Path) -> None:
    written = threading.Event()
    writer = ParquetLogWriter(
        str(tmp_path / "log"),
        CHURN_LOG_SCHEMA,
        partition_by=churn_partition,
        flush_seconds=0.2,
        poll_seconds=0.05,
        on_outcome=lambda outcome, n: written.set() if outcome == "written" else None,
    )
    writer.start()
    try:
        for i in range(5):
            assert writer.submit(_row(i))
        assert written.wait(5), "the time-based flush never came"
        table = ds.dataset(tmp_path / "log", format="parquet", partitioning="hive").to_table()
        assert sorted(table.column("request_id").to_pylist()) == [f"r{i}" for i in range(5)]
    finally:
        writer.close()


def test_submit_wakes_the_thread_only_when_a_whole_batch_waits(tmp_path: Path) -> None:
    # Not started, so nothing drains: the wake-up is the only effect of a submit on the thread.
    writer = ParquetLogWriter(
        str(tmp_path / "log"), CHURN_LOG_SCHEMA, partition_by=churn_partition, flush_rows=50
    )
    for i in range(49):
        writer.submit(_row(i))
    assert not writer._wake.is_set()
    writer.submit(_row(49))
    assert writer._wake.is_set()


def _started_until_close(tmp_path: Path) -> tuple[ParquetLogWriter, Counter[str]]:
    """A started writer that flushes only on close(), and the outcomes it reports."""
    outcomes: Counter[str] = Counter()
    writer = ParquetLogWriter(
        str(tmp_path / "log"),
        CHURN_LOG_SCHEMA,
        partition_by=churn_partition,
        flush_rows=10_000,
        flush_seconds=60,
        on_outcome=lambda outcome, n: outcomes.update({outcome: n}),
    )
    writer.start()
    return writer, outcomes


def test_a_batch_larger_than_one_slice_keeps_every_row_in_order_and_in_one_file(tmp_path: Path) -> None:
    writer, outcomes = _started_until_close(tmp_path)
    for i in range(1_000):  # about four of the writer's conversion slices
        writer.submit(_row(i))
    writer.close()
    assert outcomes == {"written": 1_000}
    (file,) = (tmp_path / "log").rglob("*.parquet")
    table = ds.dataset(file, format="parquet").to_table()
    assert table.column("request_id").to_pylist() == [f"r{i}" for i in range(1_000)]


def test_one_bad_row_past_the_first_slice_drops_its_whole_partition_and_counts_it(tmp_path: Path) -> None:
    writer, outcomes = _started_until_close(tmp_path)
    for i in range(600):
        row = _row(i, day=25 if i < 500 else 26)
        if i == 400:
            row["tenure_months"] = "not a number"
        writer.submit(row)
    writer.close()
    # The day-25 partition (500 rows, the bad one in its second slice) is dropped whole and counted; the
    # day-26 partition is written.
    assert outcomes == {"dropped": 500, "written": 100}
    assert not list((tmp_path / "log").rglob(".*"))
