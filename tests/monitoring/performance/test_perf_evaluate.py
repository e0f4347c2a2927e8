"""Windows, coverage, realised metrics at the served decision, and the gate on the latest gated window."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import precision_score, recall_score, roc_auc_score

from monitoring.performance.cbpe import CBPE, Calibrator
from monitoring.performance.evaluate import (
    EvaluationSettings,
    Reference,
    evaluate_windows,
    gate,
    latest_labeled,
    window_start,
)

IDENTITY = CBPE(Calibrator("isotonic", x=np.array([0.0, 1.0]), y=np.array([0.0, 1.0])))
SETTINGS = EvaluationSettings(auc_drop=0.05, min_labels=100, max_pending_share=0.2, bootstrap=50)
REF = Reference("v1", validation_auc=0.80, train_auc=0.81, threshold=0.5, cbpe=IDENTITY)


def _week(start: str, n: int, *, seed: int, quality: float, status: str = "labeled", version: str = "v1"):
    """`n` predictions in the week of `start`; `quality` separates the classes (0 = AUC 0.5, 0.5 = ~0.92)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    score = 1 / (1 + np.exp(-(4 * quality * (y - 0.5) + rng.normal(0, 1, n))))
    ts = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(rng.integers(0, 7 * 86400, n), unit="s")
    labelled = status == "labeled"
    return pd.DataFrame(
        {
            "ts": ts,
            "model_version": version,
            "customer_id": [f"{version}-{start}-{i}" for i in range(n)],
            "churn_probability": score,
            "prediction": np.where(score >= 0.5, "churn", "no_churn"),
            "label": pd.array(np.where(labelled, y, 0), dtype="Int8")
            if labelled
            else pd.array([pd.NA] * n, "Int8"),
            "label_status": status,
        }
    )


def test_window_starts_are_utc_days_and_monday_weeks():
    ts = pd.Series(pd.to_datetime(["2025-01-08T23:59:00Z", "2025-01-12T00:00:00Z", "2025-01-13T00:00:00Z"]))
    assert window_start(ts, "daily").dt.strftime("%m-%d").tolist() == ["01-08", "01-12", "01-13"]
    assert window_start(ts, "weekly").dt.strftime("%m-%d").tolist() == ["01-06", "01-06", "01-13"]
    with pytest.raises(ValueError):
        window_start(ts, "monthly")


def test_realised_metrics_match_sklearn_and_coverage_counts_every_status():
    labelled = _week("2025-01-06", 400, seed=1, quality=0.5)
    pending = _week("2025-01-06", 50, seed=2, quality=0.5, status="pending")
    no_id = _week("2025-01-06", 30, seed=3, quality=0.5, status="no_customer_id")
    joined = pd.concat([labelled, pending, no_id], ignore_index=True)
    (r,) = evaluate_windows(joined, window="weekly", references={"v1": REF}, settings=SETTINGS)
    y = labelled["label"].astype(int)
    yhat = (labelled["prediction"] == "churn").astype(int)
    assert r.n_predictions == 480 and r.n_labeled == 400 and r.n_pending == 50 and r.n_no_customer_id == 30
    assert r.coverage == pytest.approx(400 / 480)
    assert r.auc == pytest.approx(roc_auc_score(y, labelled["churn_probability"]))
    assert r.auc_low < r.auc < r.auc_high
    assert r.precision == pytest.approx(precision_score(y, yhat))
    assert r.recall == pytest.approx(recall_score(y, yhat))
    # The estimate covers all 480 predictions, labelled or not.
    assert r.estimate is not None and r.estimate.n == 480
    assert r.gated and r.reference_auc == 0.80


def test_gate_trips_on_the_latest_gated_window_only():
    joined = pd.concat(
        [
            _week("2025-01-06", 300, seed=1, quality=0.05),  # bad, but older
            _week("2025-01-13", 300, seed=2, quality=0.6),  # good, latest gated
            _week("2025-01-20", 50, seed=3, quality=0.0),  # too few labels: not gated
        ],
        ignore_index=True,
    )
    results = evaluate_windows(joined, window="weekly", references={"v1": REF}, settings=SETTINGS)
    assert [r.gated for r in results] == [True, True, False]
    assert results[0].below_limit and not results[1].below_limit
    assert latest_labeled(results, "v1") is results[1]
    assert gate(results, 0.05) == []

    worse = pd.concat([joined, _week("2025-01-27", 300, seed=4, quality=0.05)], ignore_index=True)
    results = evaluate_windows(worse, window="weekly", references={"v1": REF}, settings=SETTINGS)
    (breach,) = gate(results, 0.05)
    assert breach.window_start == pd.Timestamp("2025-01-27", tz="UTC")
    assert breach.auc < 0.75 and breach.limit == pytest.approx(0.75) and breach.n_labeled == 300


def test_a_window_with_many_labels_still_pending_is_not_gated():
    joined = pd.concat(
        [
            _week("2025-01-06", 300, seed=1, quality=0.05),
            _week("2025-01-06", 200, seed=2, quality=0.05, status="pending"),  # 40 % pending > 20 %
        ],
        ignore_index=True,
    )
    (r,) = evaluate_windows(joined, window="weekly", references={"v1": REF}, settings=SETTINGS)
    assert r.auc is not None and r.auc < 0.75
    assert not r.gated and not r.below_limit and gate([r], 0.05) == []


def test_a_window_with_one_outcome_only_has_no_auc():
    week = _week("2025-01-06", 300, seed=1, quality=0.5)
    week["label"] = pd.array([1] * 300, dtype="Int8")
    (r,) = evaluate_windows(week, window="weekly", references={"v1": REF}, settings=SETTINGS)
    assert r.auc is None and not r.gated and r.recall is not None


def test_versions_are_windowed_apart_and_unknown_versions_get_no_reference():
    joined = pd.concat(
        [
            _week("2025-01-06", 200, seed=1, quality=0.05, version="v0"),
            _week("2025-01-06", 200, seed=2, quality=0.6, version="v1"),
        ],
        ignore_index=True,
    )
    results = evaluate_windows(joined, window="daily", references={"v1": REF}, settings=SETTINGS)
    v0 = [r for r in results if r.model_version == "v0"]
    v1 = [r for r in results if r.model_version == "v1"]
    assert sum(r.n_predictions for r in v0) == 200 and sum(r.n_predictions for r in v1) == 200
    assert all(r.reference_auc is None and r.estimate is None for r in v0)
    assert all(r.estimate is not None for r in v1)
    # v0 is bad but has no reference to be judged against; daily windows have < 100 labels anyway.
    assert gate(results, 0.05) == []


def test_empty_input_gives_no_windows():
    empty = _week("2025-01-06", 0, seed=1, quality=0.5)
    assert evaluate_windows(empty, window="weekly", references={}, settings=SETTINGS) == []


def test_to_dict_is_json_ready():
    (r,) = evaluate_windows(
        _week("2025-01-06", 200, seed=1, quality=0.5),
        window="weekly",
        references={"v1": REF},
        settings=SETTINGS,
    )
    d = r.to_dict()
    assert d["start"] == "2025-01-06T00:00:00+00:00" and d["end"] == "2025-01-13T00:00:00+00:00"
    assert set(d["estimate"]) >= {"auc", "auc_low", "auc_high", "accuracy"}
