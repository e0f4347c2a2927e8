"""`modelgate drift` on bad input and bad usage: exit 2, one line on stderr, no traceback, no Evidently.

Every refusal here happens before Evidently is imported, so these tests are fast.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from adapters.churn.generator import generate_customers
from gateway.logcontract.rows import write_prediction_rows
from monitoring.drift.cli import main

END = datetime(2025, 3, 10, tzinfo=UTC)
END_ARG = "2025-03-10T00:00:00Z"


def log_rows(n: int = 500, seed: int = 1) -> pd.DataFrame:
    frame = generate_customers(n, seed=seed)
    frame.insert(0, "ts", [END - timedelta(hours=12) + timedelta(seconds=i) for i in range(n)])
    frame.insert(1, "request_id", [f"r{i}" for i in range(n)])
    frame.insert(2, "tenant", "acme")
    frame["churn_probability"] = 0.3
    frame["prediction"] = "no_churn"
    return frame


def config(tmp_path: Path, artifact: Path, drift: dict[str, object] | None = None) -> Path:
    body = {
        "data_dir": str(tmp_path / "data"),
        "prediction_log": {"uri": str(tmp_path / "log")},
        "churn": {"artifact_dir": str(artifact)},
        "jobs": {"results_dir": str(tmp_path / "jobs")},
        "monitoring": {"drift": drift or {}},
    }
    path = tmp_path / "modelgate.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def version_of(artifact: Path) -> str:
    return str(json.loads((artifact / "metadata.json").read_text())["version"])


def refuse(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> str:
    """Run the CLI, expect exit 2 with exactly one error line containing `message`; return it."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err
    assert message in errors[0], errors[0]
    assert "Traceback" not in err
    return errors[0]


def test_help_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "data" in capsys.readouterr().out
    assert main(["data", "--days", "0"]) == 2
    assert main(["data", "--against", "yesterday"]) == 2
    assert main(["simulate"]) == 2  # --out is required
    assert main([]) == 2


def test_empty_window_fails_and_publishes_a_failed_result(
    tmp_path: Path, churn_artifact: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(tmp_path, churn_artifact)
    refuse(capsys, ["data", "--config", str(cfg), "--end", END_ARG], "no predictions in")
    result = json.loads((tmp_path / "jobs" / "drift_data--training.json").read_text())
    assert (result["status"], result["exit_code"], result["metrics"]) == ("failed", 2, [])


def test_a_version_without_an_artifact_is_refused(
    tmp_path: Path, churn_artifact: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_prediction_rows(str(tmp_path / "log"), log_rows(), "churn-unknown")
    cfg = config(tmp_path, churn_artifact)
    line = refuse(
        capsys, ["data", "--config", str(cfg), "--end", END_ARG], "no churn artifact for model version"
    )
    assert "churn-unknown" in line and "--against previous" in line


def test_missing_reference_file_is_refused(
    tmp_path: Path, churn_artifact: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    artifact = tmp_path / "artifact"
    artifact.mkdir()
    (artifact / "metadata.json").write_text((churn_artifact / "metadata.json").read_text())
    write_prediction_rows(str(tmp_path / "log"), log_rows(), version_of(churn_artifact))
    cfg = config(tmp_path, artifact)
    refuse(capsys, ["data", "--config", str(cfg), "--end", END_ARG], "train_reference.parquet not found")
    refuse(capsys, ["prediction", "--config", str(cfg), "--end", END_ARG], "val_scores.parquet not found")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        # A file written before a column joined the contract reads as nulls in it (schema evolution);
        # the job still refuses, naming the column.
        (lambda f: f.drop(columns=["contract_type"]), "column contract_type has 500 missing"),
        (
            lambda f: f.assign(contract_type=f.contract_type.where(f.index > 2, "weekly")),
            "never seen in training",
        ),
        (lambda f: f.assign(monthly_charges=np.where(f.index < 5, np.nan, f.monthly_charges)), "5 missing"),
    ],
    ids=["missing-column", "unseen-category", "nan"],
)
def test_bad_log_rows_are_refused(
    tmp_path: Path,
    churn_artifact: Path,
    capsys: pytest.CaptureFixture[str],
    mutate: Callable[[pd.DataFrame], pd.DataFrame],
    message: str,
) -> None:
    # Written with pyarrow directly: the contract writer would refuse a missing column itself.
    folder = tmp_path / "log" / "date=2025-03-09" / f"model_version={version_of(churn_artifact)}"
    folder.mkdir(parents=True)
    frame = mutate(log_rows())
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True).astype("datetime64[us, UTC]")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / "part-1-00000000.parquet")
    cfg = config(tmp_path, churn_artifact)
    refuse(capsys, ["data", "--config", str(cfg), "--end", END_ARG], message)


def test_no_previous_window_and_bad_config_are_refused(
    tmp_path: Path, churn_artifact: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_prediction_rows(str(tmp_path / "log"), log_rows(), version_of(churn_artifact))
    cfg = config(tmp_path, churn_artifact)
    argv = ["data", "--config", str(cfg), "--end", END_ARG, "--days", "1", "--against", "previous"]
    refuse(capsys, argv, "in the previous window")
    assert json.loads((tmp_path / "jobs" / "drift_data--previous.json").read_text())["status"] == "failed"
    bad = config(tmp_path, churn_artifact, {"share_gate": "high"})
    refuse(capsys, ["data", "--config", str(bad), "--end", END_ARG], "monitoring.drift.share_gate")
    bad = config(tmp_path, churn_artifact, {"calibration_quantile": 1.0})
    refuse(capsys, ["data", "--config", str(bad), "--end", END_ARG], "monitoring.drift.calibration_quantile")
    bad = config(tmp_path, churn_artifact, {"min_rows": 0})
    refuse(capsys, ["data", "--config", str(bad), "--end", END_ARG], "monitoring.drift.min_rows")
    refuse(capsys, ["data", "--config", str(tmp_path / "missing.yaml")], "not found")


def test_refusals_never_import_evidently(tmp_path: Path, churn_artifact: Path) -> None:
    cfg = config(tmp_path, churn_artifact)
    code = (
        "import sys; from monitoring.drift.cli import main; "
        f"rc = main(['data', '--config', {str(cfg)!r}, '--end', {END_ARG!r}]); "
        "print(rc, 'evidently' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.split() == ["2", "False"]
