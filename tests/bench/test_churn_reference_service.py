"""The benchmark's baseline service answers like the model and does its per-request work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapters.churn.artifact import load_metadata
from adapters.churn.predictor import ChurnPredictor
from bench.churn_reference_service import create_app, main

CUSTOMER = {
    "tenure_months": 4,
    "monthly_charges": 92.5,
    "total_charges": 370.0,
    "support_tickets": 2,
    "contract_type": "month-to-month",
    "payment_method": "electronic_check",
    "internet_service": "fiber_optic",
}


def test_predict_scores_logs_and_counts(tmp_path: Path, churn_artifact: Path) -> None:
    artifact = churn_artifact
    meta = load_metadata(artifact)
    log = tmp_path / "ref.jsonl"
    expected = ChurnPredictor.load(artifact).predict_one(CUSTOMER)
    with TestClient(create_app(artifact, log)) as client:
        for _ in range(3):
            response = client.post("/predict", json=CUSTOMER)
            assert response.status_code == 200
        body = response.json()
        metrics = client.get("/metrics").text
    assert body["churn_probability"] == pytest.approx(expected, abs=1e-9)
    assert body["prediction"] == ("churn" if expected >= 0.5 else "no_churn")
    assert body["model_version"] == meta.version
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == 3 and lines[0]["contract_type"] == "month-to-month"
    assert f'churn_predictions_total{{prediction="{body["prediction"]}"}} 3.0' in metrics
    assert "churn_request_duration_seconds_count 3.0" in metrics


def test_main_refuses_a_missing_artifact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--artifact", str(tmp_path), "--log", str(tmp_path / "x.jsonl")]) == 2
    assert "no model.joblib" in capsys.readouterr().err
