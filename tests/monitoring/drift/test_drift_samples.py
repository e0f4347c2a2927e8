"""`modelgate drift data` on a compacted log of ~200,000 rows: drawn from the compaction samples, it reaches
the same verdict, and nearly the same scores, as the same window read row by row without them.

Two days of hourly sets (a calm population and a covariate-shifted one), `max_rows` 20,000 so the window
is sampled; the "full read" is the same log with its `_sample-*` files removed, which makes the reader
draw its 20,000 rows from every row of the window (the scheme in docs/drift.md, "Scale").
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import yaml

from adapters.churn.generator import ShiftSpec, generate_customers
from gateway.logcontract.atomic import write_parquet
from gateway.logcontract.compact import CompactionPolicy, compact_log
from gateway.logcontract.layout import part_file_name, partition_folder
from gateway.logcontract.listing import open_log
from gateway.logcontract.rows import as_log_table
from gateway.logcontract.schemas import PREDICTION_LOG
from monitoring.drift.cli import main

pytestmark = pytest.mark.slow

END = datetime(2025, 3, 10, tzinfo=UTC)
DAYS, ROWS = 2, 201_600  # 2,100 rows in each of 2 writer files an hour
SHIFTS = {
    "calm": ShiftSpec(),
    "covariate": ShiftSpec(price_factor=1.25, tenure_factor=0.6, month_to_month_share=0.4),
}


def _version(artifact: Path) -> str:
    return str(json.loads((artifact / "metadata.json").read_text())["version"])


def _build(log: Path, shift: ShiftSpec, version: str) -> None:
    """ROWS rows over DAYS days, two writer files per hour, compacted into hourly sets with samples."""
    hours = DAYS * 24
    per_file = ROWS // hours // 2
    features = generate_customers(ROWS, seed=5, shift=shift)
    start = END - timedelta(days=DAYS)
    rng = np.random.default_rng(1)
    fs, root = open_log(str(log))
    for f in range(hours * 2):
        hour = start + timedelta(hours=f // 2)
        folder = f"{root}/{partition_folder(hour.date(), 'model_version', version)}"
        chunk = features.iloc[f * per_file : (f + 1) * per_file].reset_index(drop=True)
        base = int(hour.timestamp() * 1_000_000)
        ts = pa.array(base + np.sort(rng.integers(0, 3_500_000_000, per_file)), pa.int64())
        table = pa.Table.from_pandas(chunk, preserve_index=False)
        table = table.append_column("ts", ts.cast(pa.timestamp("us", tz="UTC")))
        table = table.append_column("request_id", pa.array([f"{f}-{i}" for i in range(per_file)]))
        table = table.append_column("tenant", pa.array(["acme"] * per_file))
        written_ms = int(hour.timestamp() * 1000) + (1 + f % 2) * 1_200_000  # 20 and 40 minutes in
        write_parquet(fs, folder, part_file_name(written_ms), as_log_table(PREDICTION_LOG, table))
    policy = CompactionPolicy(sample_rows=2_000)
    report = compact_log(str(log), PREDICTION_LOG, before=END, policy=policy, now=END)
    assert report.samples_written == hours and report.rows == ROWS


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory, churn_artifact: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sampled-drift")
    out = {}
    for name, shift in SHIFTS.items():
        log = root / name
        _build(log, shift, _version(churn_artifact))
        out[name] = log
    return out


def _config(tmp: Path, log: Path, artifact: Path) -> Path:
    body = {
        "data_dir": str(tmp / "data"),
        "prediction_log": {"uri": str(log)},
        "churn": {"artifact_dir": str(artifact)},
        "jobs": {"results_dir": str(tmp / "jobs")},
        "monitoring": {"drift": {"max_rows": 20_000}},
    }
    path = tmp / f"{log.name}.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def _drift(cfg: Path, out: Path) -> tuple[int, dict[str, Any]]:
    argv = ["data", "--config", str(cfg), "--days", str(DAYS), "--end", END.isoformat(), "--json", str(out)]
    code = main(argv)
    return code, json.loads(out.read_text())


@pytest.mark.parametrize("population", sorted(SHIFTS))
def test_sampled_and_full_reads_agree_on_the_verdict(
    logs: dict[str, Path], churn_artifact: Path, tmp_path: Path, population: str
) -> None:
    sampled_log = logs[population]
    full_log = tmp_path / f"{population}-without-samples"
    shutil.copytree(sampled_log, full_log, ignore=shutil.ignore_patterns("_sample-*"))
    assert list(sampled_log.rglob("_sample-*")) and not list(full_log.rglob("_sample-*"))

    code_s, sampled = _drift(_config(tmp_path, sampled_log, churn_artifact), tmp_path / "sampled.json")
    code_f, full = _drift(_config(tmp_path, full_log, churn_artifact), tmp_path / "full.json")

    for summary in (sampled, full):
        assert summary["n_current_total"] == ROWS and summary["n_current"] == 20_000 and summary["sampled"]
    assert sampled["n_current_from_samples"] == 20_000  # every hourly share came from a sample
    assert full["n_current_from_samples"] == 0
    assert (code_s, sampled["verdict"]) == (code_f, full["verdict"])
    assert (code_s, sampled["verdict"]) == ((0, "no_drift") if population == "calm" else (1, "drift"))
    assert {c for c, v in sampled["columns"].items() if v["drifted"]} == {
        c for c, v in full["columns"].items() if v["drifted"]
    }
    for column, got in sampled["columns"].items():
        # Two independent 20,000-row samples of one window: scores differ by sampling noise only.
        assert abs(got["score"] - full["columns"][column]["score"]) < 0.03, column
