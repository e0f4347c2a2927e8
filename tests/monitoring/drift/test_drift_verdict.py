"""The pure parts of the drift jobs: the share gate, the JSON column block, the exported gauges."""

from __future__ import annotations

import pytest

from gateway.logcontract.job_results import JobMetric
from monitoring.drift.export import data_metrics, prediction_metrics
from monitoring.drift.verdict import ColumnDrift, Gates, columns_json, decide, exit_code


def cols(*drifted: bool) -> list[ColumnDrift]:
    return [
        ColumnDrift(f"c{i}", "wasserstein", "Wasserstein distance (normed)", 0.5 if d else 0.01, 0.1, d)
        for i, d in enumerate(drifted)
    ]


@pytest.mark.parametrize(
    ("drifted", "verdict", "retrain"),
    [
        ((False,) * 7, "no_drift", False),
        ((True, True) + (False,) * 5, "no_drift", False),  # 2/7 = 0.29, just under 0.3
        ((True,) * 3 + (False,) * 4, "drift", False),  # 3/7 = 0.43
        ((True,) * 5 + (False,) * 2, "drift", True),  # 5/7 = 0.71
        ((True,) * 3 + (False,) * 7, "drift", False),  # exactly 0.3: a share AT the gate trips it
        ((True,) * 6 + (False,) * 4, "drift", True),  # exactly 0.6
    ],
)
def test_share_of_drifted_columns_against_the_gates(
    drifted: tuple[bool, ...], verdict: str, retrain: bool
) -> None:
    v = decide(cols(*drifted), Gates(share_gate=0.3, retrain_gate=0.6))
    assert v.verdict == verdict
    assert v.retrain_candidate is retrain
    assert v.n_drifted == sum(drifted) and v.n_columns == len(drifted)
    assert v.share_drifted == pytest.approx(sum(drifted) / len(drifted))
    assert exit_code(v) == (1 if verdict == "drift" else 0)


def test_one_column_verdict_is_that_columns_decision() -> None:
    assert decide(cols(True), Gates()).verdict == "drift"
    assert decide(cols(False), Gates()).verdict == "no_drift"


def test_gates_and_empty_results_are_refused() -> None:
    with pytest.raises(ValueError):
        Gates(share_gate=0.0)
    with pytest.raises(ValueError):
        Gates(retrain_gate=1.5)
    with pytest.raises(ValueError):
        decide([], Gates())


def test_columns_json_has_the_documented_fields() -> None:
    block = columns_json(cols(True, False))
    assert block["c0"] == {
        "drifted": True,
        "method": "wasserstein",
        "method_name": "Wasserstein distance (normed)",
        "score": 0.5,
        "threshold": 0.1,
    }
    assert block["c1"]["drifted"] is False


def test_exported_gauges_carry_model_version_and_against() -> None:
    summary = {
        "model_version": "v1",
        "against": "previous",
        "share_drifted": 3 / 7,
        "verdict": "drift",
        "columns": columns_json(cols(True, False)),
    }
    by_name: dict[str, list[JobMetric]] = {}
    for m in data_metrics(summary):
        by_name.setdefault(m.name, []).append(m)
    assert by_name["modelgate_drift_share"][0].value == pytest.approx(3 / 7)
    assert by_name["modelgate_drift_detected"][0].value == 1.0
    assert by_name["modelgate_drift_share"][0].labels == {
        "model": "churn",
        "model_version": "v1",
        "against": "previous",
    }
    scores = {m.labels["column"]: m.value for m in by_name["modelgate_drift_column_score"]}
    assert scores == {"c0": 0.5, "c1": 0.01}
    # The per-column decision, with the same labels as the score: c0 drifted, c1 did not.
    flags = {m.labels["column"]: m.value for m in by_name["modelgate_drift_column_drifted"]}
    assert flags == {"c0": 1.0, "c1": 0.0}
    assert by_name["modelgate_drift_column_drifted"][0].labels == {
        "model": "churn",
        "model_version": "v1",
        "against": "previous",
        "column": "c0",
    }

    pred = {
        "model_version": "v1",
        "against": "training",
        "columns": {"churn_probability": columns_json(cols(False))["c0"]},
    }
    values = {m.name: m.value for m in prediction_metrics(pred)}
    assert values == {"modelgate_prediction_drift_score": 0.01, "modelgate_prediction_drift_detected": 0.0}
