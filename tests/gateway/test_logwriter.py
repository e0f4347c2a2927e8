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
