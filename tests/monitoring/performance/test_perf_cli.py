"""`modelgate performance` end to end: a real artifact and prediction log, simulated and ingested labels."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from adapters.churn.generator import generate_customers
from adapters.churn.predictor import ChurnPredictor
from adapters.churn.train import train_model
from gateway.logcontract.rows import write_prediction_rows
from monitoring.labels.cli import main as labels_main
from monitoring.performance.cli import main

DAYS = 63
PER_DAY = 250


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An artifact and 63 days of logged, scored traffic ending now (shared: tests only read them)."""
    root = tmp_path_factory.mktemp("world")
    meta = train_model(root / "artifact", rows=20_000, seed=7)
    predictor = ChurnPredictor.load(root / "artifact")
    now = pd.Timestamp.now(tz="UTC")
    customers = generate_customers(DAYS * PER_DAY, seed=11)
    rng = np.random.default_rng(11)
    scores = predictor.predict_many(customers.to_dict("records"))
    customers["ts"] = now - pd.to_timedelta(rng.integers(60, DAYS * 86400, len(customers)), unit="s")
    customers["request_id"] = [f"r{i}" for i in range(len(customers))]
    customers["tenant"] = "acme"
    # Every 20th request carries no customer id: it can never be labelled.
    customers["customer_id"] = [None if i % 20 == 0 else f"c{i}" for i in range(len(customers))]
    customers["churn_probability"] = scores
    customers["prediction"] = np.where(scores >= meta.threshold, "churn", "no_churn")
    write_prediction_rows(str(root / "predictions"), customers, meta.version)
    return root, meta


def _config(tmp_path, world, extra: str = "") -> str:
    root, _ = world
    path = tmp_path / "modelgate.yaml"
    path.write_text(
        f"data_dir: {tmp_path / 'data'}\n"
        f"prediction_log: {{uri: {root / 'predictions'}}}\n"
        f"churn: {{artifact_dir: {root / 'artifact'}}}\n"
        "monitoring:\n  performance: {bootstrap: 40}\n" + extra,
        encoding="utf-8",
    )
    return str(path)


def _labels(tmp_path, config: str, concept_shift: float) -> None:
    export = tmp_path / "billing.csv"
    argv = ["simulate", "--out", str(export), "--config", config, "--concept-shift", str(concept_shift)]
    assert labels_main(argv) == 0
    assert labels_main(["ingest", str(export), "--config", config]) == 0


def _metrics(tmp_path) -> dict[tuple[str, str], float]:
    job = json.loads((tmp_path / "data" / "jobs" / "performance.json").read_text())
    assert job["status"] == "ok"
    return {(m["name"], m["labels"].get("source", "")): m["value"] for m in job["metrics"]}


def test_calm_traffic_passes_and_reports_realised_and_estimated(tmp_path, world, capsys):
    _, meta = world
    config = _config(tmp_path, world)
    _labels(tmp_path, config, 0.0)
    capsys.readouterr()
    out_json, out_html = tmp_path / "perf.json", tmp_path / "perf.html"
    assert main(["--config", config, "--json", str(out_json), "--html", str(out_html)]) == 0
    summary = json.loads(out_json.read_text())
    assert summary["verdict"] == "ok" and summary["breaches"] == []
    assert summary["reference"]["validation_auc"] == pytest.approx(meta.validation_auc)
    assert summary["reference"]["train_auc"] == pytest.approx(meta.train_auc)
    status = summary["label_status"]
    assert status["no_customer_id"] == pytest.approx(DAYS * PER_DAY / 20, abs=1)
    assert status["labeled"] > 0 and status["pending"] > 0
    windows = summary["windows"]
    gated = [w for w in windows if w["gated"]]
    assert len(gated) >= 3
    for w in gated:
        # Calm traffic: realised AUC consistent with a healthy model, and the estimate near it.
        assert w["auc_high"] > meta.validation_auc - 0.05
        assert abs(w["estimate"]["auc"] - w["auc"]) < 0.05
        assert w["precision"] is not None and w["recall"] is not None and w["f1"] is not None
    latest = windows[-1]
    assert latest["coverage"] < 0.2 and latest["estimate"]["auc"] is not None

    metrics = _metrics(tmp_path)
    assert metrics[("modelgate_model_reference_auc", "")] == pytest.approx(meta.validation_auc)
    assert metrics[("modelgate_model_auc", "labels")] == pytest.approx(gated[-1]["auc"])
    assert metrics[("modelgate_model_auc", "estimate")] == pytest.approx(latest["estimate"]["auc"])
    version = summary["versions"][meta.version]
    assert metrics[("modelgate_label_coverage_ratio", "")] == pytest.approx(version["coverage"])

    html = out_html.read_text()
    assert html.count("<svg") == 1 and "realised AUC" in html and "estimated AUC" in html
    assert "<script" not in html and not re.search(r"""(src|href)=["']?https?:""", html)


def test_concept_shift_trips_the_gate(tmp_path, world, capsys):
    _, meta = world
    config = _config(tmp_path, world)
    _labels(tmp_path, config, 1.0)
    capsys.readouterr()
    assert main(["--config", config, "--window", "weekly"]) == 1
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    (breach,) = summary["breaches"]
    assert breach["auc"] < meta.validation_auc - 0.05
    assert f"is below {breach['limit']:.3f}" in captured.err
    gated = [w for w in summary["windows"] if w["gated"]]
    # The estimate still believes the model is fine: the reason it cannot replace labels.
    assert all(w["estimate"]["auc"] - w["auc"] > 0.1 for w in gated)
    job = json.loads((tmp_path / "data" / "jobs" / "performance.json").read_text())
    assert job["exit_code"] == 1 and job["status"] == "ok"


def test_daily_windows_and_a_looser_gate(tmp_path, world, capsys):
    config = _config(tmp_path, world, "  labels: {horizon_days: 30, delay_allowance_days: 7}\n")
    path = tmp_path / "modelgate.yaml"
    path.write_text(
        path.read_text().replace("{bootstrap: 40}", "{bootstrap: 20, auc_drop: 0.9, min_labels: 50}")
    )
    _labels(tmp_path, config, 1.0)
    capsys.readouterr()
    assert main(["--config", config, "--window", "daily", "--days", "40"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["window"] == "daily" and summary["settings"]["auc_drop"] == 0.9
    assert 40 <= len(summary["windows"]) <= 41


def test_no_traffic_is_healthy_with_nothing_to_judge(tmp_path, capsys):
    config = tmp_path / "modelgate.yaml"
    config.write_text("data_dir: data\nmonitoring: {performance: {bootstrap: 5}}\n")
    train_model(tmp_path / "data" / "models" / "churn", rows=1000, seed=1)
    assert main(["--config", str(config)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["windows"] == [] and summary["versions"] == {}


@pytest.mark.parametrize(
    ("extra", "argv", "message"),
    [
        ("", ["--days", "0"], "--days: must be >= 1"),
        ("", ["--window", "monthly"], "invalid choice"),
        ("  performance: {auc_dropp: 0.1}\n", [], "unknown key(s) auc_dropp"),
        ("  performance: {calibration: beta}\n", [], "calibration must be one of"),
        ("  labels: {horizon_days: -3}\n", [], "horizon_days must be >= 1"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, world, capsys, extra, argv, message):
    config = tmp_path / "modelgate.yaml"
    root, _ = world
    config.write_text(
        f"data_dir: data\nprediction_log: {{uri: {root / 'predictions'}}}\n"
        f"churn: {{artifact_dir: {root / 'artifact'}}}\nmonitoring:\n" + (extra or "  {}\n")
    )
    assert main(["--config", str(config), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_missing_artifact_exits_2_and_publishes_a_failed_run(tmp_path, capsys):
    config = tmp_path / "modelgate.yaml"
    config.write_text("data_dir: data\n")
    assert main(["--config", str(config)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "metadata.json not found" in line
    job = json.loads((tmp_path / "data" / "jobs" / "performance.json").read_text())
    assert job["status"] == "failed" and job["exit_code"] == 2
    assert main(["--config", str(tmp_path / "nope.yaml")]) == 2
