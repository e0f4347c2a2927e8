"""Per-window performance of the served churn model: realised metrics, the estimate, and the gate. Pure.

Input is the prediction log joined to labels (`monitoring.labels.join.join_labels`): one row per prediction
with ts, model_version, customer_id, churn_probability, prediction, label, label_status. Windows are UTC
calendar days or ISO weeks (Monday 00:00 UTC) of the prediction time.

The gate (docs/labels.md): a window is *gated* when it has at least `min_labels` labels, both outcomes
among them, and at most `max_pending_share` of its predictions still waiting for a label (churners are
reported before stayers, so a half-labelled window is a biased sample). For each model version that has a
reference (its validation AUC), the LATEST gated window is compared with `validation_auc - auc_drop`;
below it is a breach, and the job exits 1. Older windows are reported, not gated, so an alert clears once
a newer window recovers.

    results = evaluate_windows(joined, window="weekly", references={v: ref}, settings=s)
    breaches = gate(results)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from monitoring.performance.cbpe import CBPE, Estimate, estimate_performance
from monitoring.performance.classification import auc, bootstrap_auc_interval, confusion

__all__ = [
    "WINDOWS",
    "Breach",
    "EvaluationSettings",
    "Reference",
    "WindowResult",
    "evaluate_windows",
    "gate",
    "latest_labeled",
    "latest_window",
    "window_start",
]

WINDOWS = ("daily", "weekly")


@dataclass(frozen=True)
class Reference:
    """What a model version is judged against: its artifact's AUCs and threshold, and its calibration."""

    model_version: str
    validation_auc: float
    train_auc: float
    threshold: float
    cbpe: CBPE | None = None


@dataclass(frozen=True)
class EvaluationSettings:
    auc_drop: float = 0.05
    min_labels: int = 1000
    max_pending_share: float = 0.2
    bootstrap: int = 200
    level: float = 0.95
    seed: int = 0


@dataclass(frozen=True)
class WindowResult:
    """One (window, model version): coverage, realised metrics (labelled rows) and the estimate (all rows)."""

    model_version: str
    start: pd.Timestamp
    end: pd.Timestamp
    n_predictions: int
    n_labeled: int
    n_pending: int
    n_unlabeled: int
    n_no_customer_id: int
    n_positive: int
    coverage: float
    gated: bool  # enough labels, both outcomes, labels (nearly) complete: counts for the gate
    auc: float | None
    auc_low: float | None
    auc_high: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    accuracy: float | None
    estimate: Estimate | None
    reference_auc: float | None
    below_limit: bool  # this window alone is below validation_auc - auc_drop with enough labels

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["start"], out["end"] = self.start.isoformat(), self.end.isoformat()
        out["estimate"] = asdict(self.estimate) if self.estimate is not None else None
        return out


@dataclass(frozen=True)
class Breach:
    model_version: str
    window_start: pd.Timestamp
    auc: float
    limit: float
    n_labeled: int


def window_start(ts: pd.Series, window: str) -> pd.Series:
    """The UTC start of each timestamp's day or ISO week (Monday)."""
    if window not in WINDOWS:
        raise ValueError(f"window must be one of {', '.join(WINDOWS)}, got {window!r}")
    day = pd.to_datetime(ts, utc=True).dt.floor("D")
    if window == "daily":
        return day
    return day - pd.to_timedelta(day.dt.weekday, unit="D")


def evaluate_windows(
    joined: pd.DataFrame,
    *,
    window: str,
    references: dict[str, Reference],
    settings: EvaluationSettings,
) -> list[WindowResult]:
    """One result per (model version, window) that holds predictions, ordered by version then time."""
    if joined.empty:
        return []
    starts = window_start(joined["ts"], window)
    length = pd.Timedelta(days=1 if window == "daily" else 7)
    results: list[WindowResult] = []
    for (version, start), rows in joined.groupby([joined["model_version"], starts], sort=True, observed=True):
        ref = references.get(str(version))
        results.append(_evaluate(rows, str(version), start, start + length, ref, settings))
    return results


def _evaluate(
    rows: pd.DataFrame,
    version: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    ref: Reference | None,
    settings: EvaluationSettings,
) -> WindowResult:
    status = rows["label_status"].astype(str)
    labeled = rows[(status == "labeled").to_numpy()]
    y = labeled["label"].to_numpy(dtype=np.int64)
    scores = labeled["churn_probability"].to_numpy(dtype=np.float64)
    predicted = (labeled["prediction"] == "churn").to_numpy()
    n_pos = int(y.sum())
    both = 0 < n_pos < len(y)
    n_pending = int((status == "pending").sum())
    gated = len(y) >= settings.min_labels and both and n_pending <= settings.max_pending_share * len(rows)
    value = auc(scores, y) if both else None
    interval = (
        bootstrap_auc_interval(
            scores,
            y,
            labeled["customer_id"].to_numpy(),
            n_boot=settings.bootstrap,
            level=settings.level,
            seed=settings.seed,
        )
        if both
        else None
    )
    matrix = confusion(y, predicted)
    estimate = None
    if ref is not None and ref.cbpe is not None:
        estimate = estimate_performance(
            ref.cbpe,
            rows["churn_probability"].to_numpy(dtype=np.float64),
            (rows["prediction"] == "churn").to_numpy(),
            level=settings.level,
            n_draws=settings.bootstrap,
            seed=settings.seed,
        )
    limit = ref.validation_auc - settings.auc_drop if ref is not None else None
    return WindowResult(
        model_version=version,
        start=start,
        end=end,
        n_predictions=len(rows),
        n_labeled=len(labeled),
        n_pending=n_pending,
        n_unlabeled=int((status == "unlabeled").sum()),
        n_no_customer_id=int((status == "no_customer_id").sum()),
        n_positive=n_pos,
        coverage=len(labeled) / len(rows),
        gated=gated,
        auc=value,
        auc_low=interval[0] if interval else None,
        auc_high=interval[1] if interval else None,
        precision=matrix.precision,
        recall=matrix.recall,
        f1=matrix.f1,
        accuracy=matrix.accuracy,
        estimate=estimate,
        reference_auc=ref.validation_auc if ref is not None else None,
        below_limit=bool(gated and limit is not None and value is not None and value < limit),
    )


def latest_labeled(results: list[WindowResult], version: str) -> WindowResult | None:
    """The version's latest gated window, or None."""
    candidates = [r for r in results if r.model_version == version and r.gated]
    return max(candidates, key=lambda r: r.start) if candidates else None


def latest_window(results: list[WindowResult], version: str) -> WindowResult | None:
    candidates = [r for r in results if r.model_version == version]
    return max(candidates, key=lambda r: r.start) if candidates else None


def gate(results: list[WindowResult], auc_drop: float) -> list[Breach]:
    """Breaches: per version with a reference, its latest gated window when below the limit."""
    breaches = []
    for version in sorted({r.model_version for r in results}):
        latest = latest_labeled(results, version)
        if latest is None or latest.reference_auc is None or latest.auc is None:
            continue
        limit = latest.reference_auc - auc_drop
        if latest.auc < limit:
            breaches.append(Breach(version, latest.start, latest.auc, limit, latest.n_labeled))
    return breaches
