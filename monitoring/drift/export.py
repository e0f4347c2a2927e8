"""The gauges a drift run publishes (docs/contracts.md "Job results"), built from its JSON summary.

Every sample carries `model`, `model_version` and `against`: the training and the trailing comparison
are separate job variants, and the gateway re-exports both files side by side, so without `against`
their samples would collide. Values are plain floats; `*_detected` and `*_drifted` are 0 or 1.

`modelgate_drift_column_drifted` is Evidently's own per-column decision (the one the share counts): a
column's score is a distance or a p-value depending on its method, so no single alert threshold fits
`modelgate_drift_column_score`, while the 0/1 flag means the same for every column. FeatureDriftPersistent
(alerts.yml) reads it to catch one column drifting for days, which the share gate misses.

    publish(cfg.results_dir, JobRun("drift_data", variant="training"), exit_code=1,
            metrics=data_metrics(summary))
"""

from __future__ import annotations

from typing import Any

from gateway.logcontract.job_results import JobMetric

__all__ = ["MODEL", "data_metrics", "prediction_metrics"]

MODEL = "churn"


def _labels(summary: dict[str, Any]) -> dict[str, str]:
    return {"model": MODEL, "model_version": str(summary["model_version"]), "against": summary["against"]}


def data_metrics(summary: dict[str, Any]) -> list[JobMetric]:
    """`modelgate_drift_share`, `modelgate_drift_detected`, and per column `modelgate_drift_column_score`
    and `modelgate_drift_column_drifted`."""
    labels = _labels(summary)
    metrics = [
        JobMetric(
            "modelgate_drift_share",
            "Share of feature columns whose distribution drifted from the reference.",
            labels,
            float(summary["share_drifted"]),
        ),
        JobMetric(
            "modelgate_drift_detected",
            "1 when the share of drifted columns reached monitoring.drift.share_gate.",
            labels,
            1.0 if summary["verdict"] == "drift" else 0.0,
        ),
    ]
    metrics += [
        JobMetric(
            "modelgate_drift_column_score",
            "Per-column drift score (a distance, or a p-value for small references; see the method).",
            {**labels, "column": name},
            float(col["score"]),
        )
        for name, col in sorted(summary["columns"].items())
    ]
    metrics += [
        JobMetric(
            "modelgate_drift_column_drifted",
            "1 when the column's distribution drifted (its method's own decision), else 0.",
            {**labels, "column": name},
            1.0 if col["drifted"] else 0.0,
        )
        for name, col in sorted(summary["columns"].items())
    ]
    return metrics


def prediction_metrics(summary: dict[str, Any]) -> list[JobMetric]:
    """`modelgate_prediction_drift_score` and `modelgate_prediction_drift_detected`."""
    labels = _labels(summary)
    col = summary["columns"]["churn_probability"]
    return [
        JobMetric(
            "modelgate_prediction_drift_score",
            "Drift score of the served churn_probability against the reference.",
            labels,
            float(col["score"]),
        ),
        JobMetric(
            "modelgate_prediction_drift_detected",
            "1 when the served churn_probability drifted from the reference.",
            labels,
            1.0 if col["drifted"] else 0.0,
        ),
    ]
