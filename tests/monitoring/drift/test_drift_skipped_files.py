"""A drift job over a log holding a truncated file: it still gives a verdict, names the file in its JSON
and its result file, and counts it in `modelgate_log_skipped_files`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from adapters.churn.generator import generate_customers
from gateway.logcontract.rows import write_prediction_rows
from monitoring.drift.cli import main

END = datetime(2025, 3, 10, tzinfo=UTC)


def test_truncated_file_is_skipped_reported_and_counted(
    tmp_path: Path, churn_artifact: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    version = json.loads((churn_artifact / "metadata.json").read_text())["version"]
    log = tmp_path / "log"
    paths = []
    for seed in range(3):
        frame = generate_customers(1500, seed=seed)
        frame.insert(0, "ts", [END - timedelta(hours=20) + i * timedelta(seconds=20) for i in range(1500)])
        frame.insert(1, "request_id", [f"r{seed}-{i}" for i in range(1500)])
        frame.insert(2, "tenant", "acme")
        frame["churn_probability"] = 0.3
        frame["prediction"] = "no_churn"
        paths += write_prediction_rows(str(log), frame, version)
    victim = Path(paths[0])
    victim.write_bytes(victim.read_bytes()[:100])
    cfg = tmp_path / "modelgate.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "prediction_log": {"uri": str(log)},
                "churn": {"artifact_dir": str(churn_artifact)},
                "jobs": {"results_dir": str(tmp_path / "jobs")},
            }
        )
    )
    out = tmp_path / "drift.json"
    code = main(["data", "--config", str(cfg), "--end", END.isoformat(), "--days", "1", "--json", str(out)])
    err = capsys.readouterr().err
    assert code in (0, 1), err
    assert f"skipped unreadable log file {victim}" in err
    summary = json.loads(out.read_text())
    assert summary["skipped_files"] == [str(victim)] and summary["n_current_total"] == 3000
    result = json.loads((tmp_path / "jobs" / "drift_data--training.json").read_text())
    assert result["skipped_files"] == [str(victim)]
    metric = [m for m in result["metrics"] if m["name"] == "modelgate_log_skipped_files"]
    assert metric == [
        {
            "name": "modelgate_log_skipped_files",
            "help": metric[0]["help"],
            "labels": {"log": "predictions", "reader": "drift_data"},
            "value": 1.0,
        }
    ]
