"""The performance job: read the log, the labels and the artifact, evaluate every window, judge the gate.

I/O lives here and in cli.py; the math is in evaluate.py, cbpe.py and classification.py.

    outcome = run_performance(cfg, PerformanceRequest(days=90, window="weekly"), say=print)
    outcome.exit_code, outcome.summary, outcome.metrics
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from adapters.churn.artifact import VAL_SCORES_FILE, ArtifactError, load_metadata
from gateway.logcontract.job_results import JobMetric
from gateway.logcontract.window import ProgressFn, list_versions, read_window, window_bounds
from monitoring.config import MonitoringConfig
from monitoring.labels.join import join_labels, status_counts
from monitoring.labels.settings import LabelsSettings
from monitoring.labels.store import current_labels, read_records
from monitoring.performance.cbpe import fit_cbpe
from monitoring.performance.evaluate import (
    Breach,
    EvaluationSettings,
    Reference,
    WindowResult,
    evaluate_windows,
    gate,
    latest_labeled,
    latest_window,
)
from monitoring.performance.settings import PerformanceSettings

__all__ = ["PerformanceOutcome", "PerformanceRequest", "load_reference", "run_performance"]

MODEL = "churn"
_COLUMNS = ["ts", "customer_id", "churn_probability", "prediction"]


@dataclass(frozen=True)
class PerformanceRequest:
    days: int
    window: str
    end: datetime | None = None


@dataclass
class PerformanceOutcome:
    exit_code: int
    results: list[WindowResult]
    breaches: list[Breach]
    reference: Reference
    summary: dict[str, Any]
    metrics: list[JobMetric] = field(default_factory=list)


def load_reference(artifact_dir: Path, settings: PerformanceSettings) -> Reference:
    """The artifact's AUCs and threshold, and the CBPE calibrator fitted on its validation split."""
    meta = load_metadata(artifact_dir)
    path = Path(artifact_dir) / VAL_SCORES_FILE
    try:
        val = pd.read_parquet(path, columns=["churn_probability", "churned"])
    except FileNotFoundError:
        raise ArtifactError(f"{path} not found (the label-free estimate is calibrated on it)") from None
    except (OSError, ValueError, KeyError) as exc:
        raise ArtifactError(f"{path}: cannot read churn_probability and churned ({exc})") from exc
    try:
        cbpe = fit_cbpe(
            val["churn_probability"],
            val["churned"],
            method=settings.calibration,
            n_boot=settings.bootstrap,
            seed=settings.seed,
        )
    except ValueError as exc:
        raise ArtifactError(f"{path}: {exc}") from None
    return Reference(meta.version, meta.validation_auc, meta.train_auc, meta.threshold, cbpe)


def _read_predictions(
    cfg: MonitoringConfig, days: int, end: datetime | None, progress: ProgressFn | None
) -> tuple[pd.DataFrame, list[str]]:
    """The window's predictions of every version, and the log files that could not be read."""
    frames = []
    skipped: set[str] = set()
    for version in sorted(list_versions(cfg.prediction_log_uri, days, end)):
        win = read_window(
            cfg.prediction_log_uri,
            days=days,
            model_version=version,
            end=end,
            columns=_COLUMNS,
            progress=progress,
        )
        skipped.update(win.skipped_files)
        frame = win.table.to_pandas()
        frame["model_version"] = version
        frames.append(frame)
    if not frames:
        return pd.DataFrame({c: [] for c in [*_COLUMNS, "model_version"]}), sorted(skipped)
    return pd.concat(frames, ignore_index=True), sorted(skipped)


def run_performance(
    cfg: MonitoringConfig,
    labels_cfg: LabelsSettings,
    settings: PerformanceSettings,
    request: PerformanceRequest,
    *,
    say: Callable[[str], None] = lambda _m: None,
    progress: ProgressFn | None = None,
) -> PerformanceOutcome:
    """Evaluate the last `days` of predictions per window and version; exit 1 when the gate trips."""
    start, stop = window_bounds(request.days, request.end)
    as_of = pd.Timestamp(stop)
    reference = load_reference(cfg.artifact_dir, settings)
    say(f"reference {reference.model_version}: validation AUC {reference.validation_auc:.3f}")
    predictions, skipped_files = _read_predictions(cfg, request.days, request.end, progress)
    for path in skipped_files:
        say(f"warning: skipped unreadable log file {path}")
    # A label known before the first prediction's day can match nothing; later ones may all matter.
    records = read_records(cfg.labels_uri, known_from=pd.Timestamp(start).floor("D"))
    joined = join_labels(predictions, current_labels(records), labels_cfg.rule, as_of=as_of)
    counts = status_counts(joined)
    say(
        f"{len(joined)} predictions: {counts['labeled']} labelled, {counts['pending']} pending, "
        f"{counts['unlabeled']} unlabelled, {counts['no_customer_id']} without customer id"
    )
    eval_settings = EvaluationSettings(
        auc_drop=settings.auc_drop,
        min_labels=settings.min_labels,
        max_pending_share=settings.max_pending_share,
        bootstrap=settings.bootstrap,
        seed=settings.seed,
    )
    results = evaluate_windows(
        joined,
        window=request.window,
        references={reference.model_version: reference},
        settings=eval_settings,
    )
    breaches = gate(results, settings.auc_drop)
    code = 1 if breaches else 0
    summary = build_summary(
        results, breaches, reference, joined, settings, labels_cfg, request, start=start, end=stop, code=code
    )
    summary["skipped_files"] = skipped_files
    return PerformanceOutcome(
        code, results, breaches, reference, summary, job_metrics(results, reference, joined)
    )


def _version_coverage(joined: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Per version: (labelled predictions, predictions) over the whole period."""
    if joined.empty:
        return {}
    labeled = joined["label_status"].astype(str) == "labeled"
    grouped = labeled.groupby(joined["model_version"]).agg(["sum", "count"])
    return {str(v): (int(r["sum"]), int(r["count"])) for v, r in grouped.iterrows()}


def build_summary(
    results: list[WindowResult],
    breaches: list[Breach],
    reference: Reference,
    joined: pd.DataFrame,
    settings: PerformanceSettings,
    labels_cfg: LabelsSettings,
    request: PerformanceRequest,
    *,
    start: datetime,
    end: datetime,
    code: int,
) -> dict[str, Any]:
    """The JSON summary (`--json`): settings, reference, per-version headline, every window."""
    versions: dict[str, Any] = {}
    for version, (n_labeled, n) in _version_coverage(joined).items():
        last = latest_labeled(results, version)
        newest = latest_window(results, version)
        est = newest.estimate if newest is not None else None
        versions[version] = {
            "n_predictions": n,
            "n_labeled": n_labeled,
            "coverage": n_labeled / n if n else 0.0,
            "latest_labeled_window": last.start.isoformat() if last else None,
            "latest_auc": last.auc if last else None,
            "latest_window": newest.start.isoformat() if newest else None,
            "latest_estimated_auc": est.auc if est else None,
            "reference_auc": reference.validation_auc if version == reference.model_version else None,
        }
    return {
        "model": MODEL,
        "verdict": "auc_drop" if code == 1 else "ok",
        "exit_code": code,
        "period": {"start": start.isoformat(), "end": end.isoformat(), "days": request.days},
        "window": request.window,
        "settings": {
            "auc_drop": settings.auc_drop,
            "min_labels": settings.min_labels,
            "max_pending_share": settings.max_pending_share,
            "calibration": settings.calibration,
            "bootstrap": settings.bootstrap,
            "horizon_days": labels_cfg.rule.horizon_days,
            "delay_allowance_days": labels_cfg.rule.delay_allowance_days,
        },
        "reference": {
            "model_version": reference.model_version,
            "validation_auc": reference.validation_auc,
            "train_auc": reference.train_auc,
            "threshold": reference.threshold,
        },
        "label_status": status_counts(joined) if len(joined) else {},
        "versions": versions,
        "breaches": [
            {
                "model_version": b.model_version,
                "window_start": b.window_start.isoformat(),
                "auc": b.auc,
                "limit": b.limit,
                "n_labeled": b.n_labeled,
            }
            for b in breaches
        ],
        "windows": [r.to_dict() for r in results],
    }


def job_metrics(results: list[WindowResult], reference: Reference, joined: pd.DataFrame) -> list[JobMetric]:
    """Job `performance`'s gauges (docs/metrics.md)."""
    metrics = [
        JobMetric(
            "modelgate_model_reference_auc",
            "Validation ROC AUC recorded in the model artifact.",
            {"model": MODEL, "model_version": reference.model_version},
            reference.validation_auc,
        )
    ]
    for version, (n_labeled, n) in _version_coverage(joined).items():
        labels = {"model": MODEL, "model_version": version}
        metrics.append(
            JobMetric(
                "modelgate_label_coverage_ratio",
                "Share of the period's predictions that have a label.",
                labels,
                n_labeled / n if n else 0.0,
            )
        )
        last = latest_labeled(results, version)
        if last is not None and last.auc is not None:
            metrics.append(
                JobMetric(
                    "modelgate_model_auc",
                    "ROC AUC of the latest window: realised (labels) or estimated without labels (estimate).",
                    {**labels, "source": "labels"},
                    last.auc,
                )
            )
        newest = latest_window(results, version)
        if newest is not None and newest.estimate is not None and newest.estimate.auc is not None:
            metrics.append(
                JobMetric(
                    "modelgate_model_auc",
                    "ROC AUC of the latest window: realised (labels) or estimated without labels (estimate).",
                    {**labels, "source": "estimate"},
                    newest.estimate.auc,
                )
            )
    return metrics
