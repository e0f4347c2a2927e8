"""The log layout is plain hive-partitioned Parquet: DuckDB reads a compacted log as is and gets the same
rows as the project's reader (the queries are the ones docs/contracts.md shows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np

from adapters.churn.generator import generate_customers
from gateway.logcontract.compact import CompactionPolicy, compact_log
from gateway.logcontract.rows import write_prediction_rows
from gateway.logcontract.schemas import PREDICTION_LOG
from gateway.logcontract.window import list_versions, read_window

END = datetime(2025, 3, 10, tzinfo=UTC)


def test_duckdb_counts_what_the_reader_counts_on_a_compacted_log(tmp_path: Path) -> None:
    log = tmp_path / "log"
    for k in range(12):
        version = "v1" if k % 3 else "v2"
        frame = generate_customers(300, seed=k)
        frame.insert(
            0, "ts", [END - timedelta(days=2) + timedelta(hours=4 * k, seconds=i) for i in range(300)]
        )
        frame.insert(1, "request_id", [f"r{k}-{i}" for i in range(300)])
        frame.insert(2, "tenant", "acme")
        frame["churn_probability"] = np.linspace(0, 1, 300)
        frame["prediction"] = "no_churn"
        write_prediction_rows(str(log), frame, version)
    report = compact_log(
        str(log),
        PREDICTION_LOG,
        before=datetime.now(UTC) + timedelta(days=1),
        policy=CompactionPolicy(period="day"),
        now=END,
    )
    assert report.files_in == 12 and report.files_out == 4  # two days x two versions
    ours = list_versions(str(log), 3, END)
    query = f"""
        SELECT model_version, count(*) AS n, sum(tenure_months) AS tenure
        FROM read_parquet('{log}/*/*/*.parquet', hive_partitioning = true)
        WHERE ts >= TIMESTAMPTZ '{END - timedelta(days=3)}' AND ts < TIMESTAMPTZ '{END}'
        GROUP BY model_version ORDER BY model_version
    """
    rows = duckdb.sql(query).fetchall()
    assert {v: n for v, n, _ in rows} == ours == {"v1": 2400, "v2": 1200}
    for version, _, tenure in rows:
        win = read_window(str(log), days=3, end=END, model_version=version, columns=["tenure_months"])
        assert tenure == sum(win.table.column("tenure_months").to_pylist())
    dates = duckdb.sql(
        f"SELECT DISTINCT date FROM read_parquet('{log}/*/*/*.parquet', hive_partitioning = true) ORDER BY 1"
    )
    assert [str(d) for (d,) in dates.fetchall()] == ["2025-03-08", "2025-03-09"]
