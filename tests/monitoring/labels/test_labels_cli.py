"""`modelgate labels ingest|simulate` end to end on real files: exit codes, messages, the job result."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from adapters.churn.generator import generate_customers, true_churn_probability
from gateway.logcontract.rows import write_prediction_rows
from monitoring.labels.cli import main
from monitoring.labels.store import read_records

HEADER = "customer_id,churned,known_at\n"


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "modelgate.yaml"
    path.write_text("data_dir: data\n", encoding="utf-8")
    return path


def _export(tmp_path, body: str, name: str = "billing.csv", header: str = HEADER):
    path = tmp_path / name
    path.write_text(header + body, encoding="utf-8")
    return path


def _job(tmp_path) -> dict:
    return json.loads((tmp_path / "data" / "jobs" / "labels_ingest.json").read_text())


def _metric(job: dict, name: str) -> float:
    (value,) = [m["value"] for m in job["metrics"] if m["name"] == name]
    return value


def test_ingest_reports_bad_rows_stores_the_rest_and_publishes(tmp_path, config, capsys):
    path = _export(tmp_path, "a,true,2025-01-31\nb,perhaps,2025-01-31\n,no,2025-02-01\nc,no,2025-02-01\n")
    assert main(["ingest", str(path), "--config", str(config)]) == 0
    out, err = capsys.readouterr()
    assert "4 rows, 2 new labels stored, 0 already stored, 2 bad rows skipped" in out
    assert err.splitlines() == [
        "skipped 1 row missing customer_id (lines 4)",
        "skipped 1 row unknown churned value (lines 3)",
    ]
    assert sorted(read_records(str(tmp_path / "data" / "labels"))["customer_id"]) == ["a", "c"]
    job = _job(tmp_path)
    assert job["status"] == "ok" and job["exit_code"] == 0
    assert _metric(job, "modelgate_labels_ingested_rows") == 2
    assert _metric(job, "modelgate_labels_bad_rows") == 2
    assert _metric(job, "modelgate_labels_duplicate_rows") == 0

    assert main(["ingest", str(path), "--config", str(config)]) == 0
    assert "0 new labels stored, 2 already stored" in capsys.readouterr().out
    assert _metric(_job(tmp_path), "modelgate_labels_ingested_rows") == 0
    assert _metric(_job(tmp_path), "modelgate_labels_duplicate_rows") == 2


def test_columns_mapped_by_flags_or_by_config(tmp_path, config):
    path = _export(tmp_path, "7,YES,2025-03-01\n", header="cust,status,closed\n")
    flags = ["--id-column", "cust", "--label-column", "status", "--known-at-column", "closed"]
    assert main(["ingest", str(path), "--config", str(config), *flags]) == 0
    config.write_text(
        "data_dir: data\nmonitoring:\n  labels:\n"
        "    columns: {customer_id: cust, churned: status, known_at: closed}\n"
    )
    other = _export(tmp_path, "8,no,2025-03-02\n", name="two.csv", header="cust,status,closed\n")
    assert main(["ingest", str(other), "--config", str(config)]) == 0
    stored = read_records(str(tmp_path / "data" / "labels")).sort_values("customer_id")
    assert stored[["customer_id", "churned"]].values.tolist() == [["7", 1], ["8", 0]]


@pytest.mark.parametrize(
    ("body", "header", "message"),
    [
        ("a,perhaps,2025-01-01\n,true,2025-01-01\n", HEADER, "no usable rows (2 rows, 2 bad)"),
        ("", HEADER, "no usable rows (0 rows, 0 bad)"),
        ("a,true\n", "customer_id,churned\n", "missing column(s) known_at"),
    ],
)
def test_unusable_file_exits_2_with_one_line(tmp_path, config, capsys, body, header, message):
    path = _export(tmp_path, body, header=header)
    assert main(["ingest", str(path), "--config", str(config)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert message in err[-1] and err[-1].startswith("modelgate labels ingest: ")
    assert _job(tmp_path)["status"] == "failed"


@pytest.mark.parametrize(
    "argv",
    [
        ["ingest"],
        ["ingest", "nope.csv", "--config", "{config}"],
        ["frobnicate"],
        ["simulate", "--config", "{config}"],
        ["simulate", "--out", "x.csv", "--concept-shift", "2", "--config", "{config}"],
        ["simulate", "--out", "x.json", "--config", "{config}"],
        ["simulate", "--out", "x.csv", "--as-of", "yesterday", "--config", "{config}"],
    ],
)
def test_usage_errors_exit_2_with_one_line(config, capsys, argv):
    assert main([a.replace("{config}", str(config)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err


def test_bad_config_exits_2(tmp_path, capsys):
    path = _export(tmp_path, "a,true,2025-01-31\n")
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("monitoring:\n  labels:\n    horizon: 30\n")
    assert main(["ingest", str(path), "--config", str(cfg)]) == 2
    assert "unknown key(s) horizon" in capsys.readouterr().err
    assert main(["ingest", str(path), "--config", str(tmp_path / "missing.yaml")]) == 2


def _write_log(uri: str, n: int, end: pd.Timestamp, version: str, seed: int) -> pd.DataFrame:
    frame = generate_customers(n, seed=seed)
    rng = np.random.default_rng(seed)
    frame["ts"] = end - pd.to_timedelta(rng.integers(1, 60 * 86400, n), unit="s")
    frame["request_id"] = [f"r{seed}-{i}" for i in range(n)]
    frame["tenant"] = "acme"
    frame["customer_id"] = [f"{version}-{i}" for i in range(n)]
    frame["churn_probability"] = true_churn_probability(frame)
    frame["prediction"] = np.where(frame["churn_probability"] >= 0.5, "churn", "no_churn")
    write_prediction_rows(uri, frame, version)
    return frame


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_simulate_labels_the_logged_traffic_of_every_version(tmp_path, config, capsys, suffix):
    now = pd.Timestamp.now(tz="UTC")
    uri = str(tmp_path / "data" / "predictions")
    _write_log(uri, 300, now, "v1", seed=1)
    _write_log(uri, 200, now, "v2", seed=2)
    out = tmp_path / f"billing.{suffix}"
    assert main(["simulate", "--out", str(out), "--config", str(config), "--days", "90"]) == 0
    summary = capsys.readouterr().out
    assert "500 logged predictions, 500 customers" in summary
    assert main(["ingest", str(out), "--config", str(config)]) == 0
    stored = read_records(str(tmp_path / "data" / "labels"))
    # Only outcomes known by now: stayers of the last 30 days are not known yet.
    assert 100 < len(stored) < 500
    assert {c.split("-")[0] for c in stored["customer_id"]} == {"v1", "v2"}
    assert (stored["known_at"] <= now).all()
    # --as-of in the future: every outcome is known.
    later = tmp_path / f"later.{suffix}"
    future = (now + pd.Timedelta(days=60)).date().isoformat()
    assert main(["simulate", "--out", str(later), "--config", str(config), "--as-of", future]) == 0
    assert "500 outcomes known" in capsys.readouterr().out


def test_simulate_on_an_empty_log_exits_2(config, capsys):
    assert main(["simulate", "--out", "x.csv", "--config", str(config)]) == 2
    assert "has no rows in the last 120 days" in capsys.readouterr().err


def test_unwritable_store_exits_2_with_one_line(tmp_path, capsys):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the label store should be")
    config = tmp_path / "modelgate.yaml"
    config.write_text(f"data_dir: data\nmonitoring: {{labels_uri: {blocker / 'labels'}}}\n")
    path = _export(tmp_path, "a,true,2025-01-31\n")
    assert main(["ingest", str(path), "--config", str(config)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("modelgate labels ingest: ")
