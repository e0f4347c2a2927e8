"""The data and prediction drift jobs: read a window, find its reference, check both, ask Evidently, decide.

Order matters for the user: everything that can refuse the input (no rows, no artifact, a missing column,
NaNs, a category never seen in training) runs BEFORE Evidently is imported, so bad input exits in about a
second instead of after a 15-second import.

    outcome = run_job(cfg, settings, DriftRequest(kind="data", days=7), say=print, progress=None)
    outcome.exit_code, outcome.summary["share_drifted"], outcome.metrics

One window never mixes model versions: the job checks one (`--model-version`, default the version that
served the latest prediction) and names the others, in `versions_seen` and on stderr.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from adapters.churn.schema import CATEGORICAL_FEATURES, CATEGORIES, NUMERIC_FEATURES
from gateway.logcontract.job_results import JobMetric
from gateway.logcontract.window import LogReadError, LogWindow, ProgressFn, read_window
from monitoring.config import MonitoringConfig
from monitoring.drift import engine
from monitoring.drift.calibrate import Calibration, size_aware
from monitoring.drift.checks import check_frame, check_probabilities, known_categories
from monitoring.drift.errors import DriftInputError
from monitoring.drift.export import MODEL, data_metrics, prediction_metrics
from monitoring.drift.reference import TRAIN_REFERENCE_FILE, VAL_SCORES_FILE, find_artifact, read_reference
from monitoring.drift.segments import segment_drift
from monitoring.drift.settings import DriftSettings
from monitoring.drift.verdict import columns_json, decide, exit_code

__all__ = ["SCORE_COLUMN", "DriftRequest", "JobOutcome", "run_job"]

SCORE_COLUMN = "churn_probability"
Kind = Literal["data", "prediction"]
Against = Literal["training", "previous"]


@dataclass(frozen=True)
class DriftRequest:
    """What the user asked for on the command line."""

    kind: Kind
    days: int
    model_version: str | None = None
    against: Against = "training"
    by: str | None = None
    end: datetime | None = None
    html: Path | None = None


@dataclass(frozen=True)
class JobOutcome:
    exit_code: int
    summary: dict[str, Any]
    metrics: list[JobMetric]


def _columns(kind: Kind) -> tuple[list[str], list[str]]:
    """(numeric, categorical) columns the job compares."""
    if kind == "data":
        return list(NUMERIC_FEATURES), list(CATEGORICAL_FEATURES)
    return [SCORE_COLUMN], []


def _read(cfg: MonitoringConfig, settings: DriftSettings, **kwargs: Any) -> LogWindow:
    try:
        return read_window(cfg.prediction_log_uri, max_rows=settings.max_rows, seed=settings.seed, **kwargs)
    except LogReadError as exc:
        raise DriftInputError(str(exc)) from exc


def _span(win: LogWindow) -> str:
    return f"{win.start:%Y-%m-%d %H:%M} to {win.end:%Y-%m-%d %H:%M} UTC"


def _seen(win: LogWindow) -> str:
    return ", ".join(f"{v} ({n:,} rows)" for v, n in sorted(win.versions_seen.items())) or "none"


def _current(
    cfg: MonitoringConfig,
    settings: DriftSettings,
    req: DriftRequest,
    cols: list[str],
    progress: ProgressFn | None,
    say: Callable[[str], None],
) -> LogWindow:
    win = _read(
        cfg,
        settings,
        days=req.days,
        model_version=req.model_version,
        end=req.end,
        columns=cols,
        progress=progress,
    )
    if win.model_version is None:
        raise DriftInputError(f"no predictions in {cfg.prediction_log_uri} from {_span(win)}")
    if win.n_rows_total == 0:
        raise DriftInputError(
            f"no predictions of model version {win.model_version} from {_span(win)} (seen: {_seen(win)})"
        )
    if len(win.versions_seen) > 1:
        say(
            f"note: the window holds {len(win.versions_seen)} model versions ({_seen(win)}); "
            f"checking {win.model_version} only (--model-version picks another)"
        )
    if win.sampled:
        kept = f" ({win.rows_from_samples:,} from compaction samples)" if win.rows_from_samples else ""
        say(f"note: {win.n_rows_total:,} rows in the window; using a seeded sample of {win.n_rows:,}{kept}")
    for path in win.skipped_files:
        say(f"warning: skipped unreadable log file {path}")
    return win


def _reference(
    cfg: MonitoringConfig, settings: DriftSettings, req: DriftRequest, win: LogWindow, cols: list[str]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The reference frame and its description for the JSON summary."""
    version = str(win.model_version)
    if req.against == "previous":
        prev = _read(cfg, settings, days=req.days, model_version=version, end=win.start, columns=cols)
        if prev.n_rows_total == 0:
            raise DriftInputError(
                f"no predictions of model version {version} in the previous window ({_span(prev)}) "
                "to compare with"
            )
        about: dict[str, Any] = {
            "kind": "previous",
            "start": prev.start.isoformat(),
            "end": prev.end.isoformat(),
            "n_rows_total": prev.n_rows_total,
            "sampled": prev.sampled,
        }
        return prev.table.to_pandas(), about
    folder = find_artifact(version, current=cfg.artifact_dir, mapping=settings.artifacts)
    name = TRAIN_REFERENCE_FILE if req.kind == "data" else VAL_SCORES_FILE
    # The training snapshot has the features only (no tenant): segments compare with all of it.
    features = [c for c in cols if c != req.by]
    ref = read_reference(folder / name, features, max_rows=settings.max_rows, seed=settings.seed)
    about = {
        "kind": "training",
        "path": ref.source,
        "model_version": version,
        "n_rows_total": ref.n_rows_total,
        "sampled": ref.sampled,
    }
    return ref.frame, about


def _check(req: DriftRequest, current: pd.DataFrame, reference: pd.DataFrame, about: dict[str, Any]) -> None:
    where_ref = f"reference {about.get('path', 'previous window')}"
    if req.kind == "prediction":
        check_probabilities(reference, SCORE_COLUMN, where=where_ref)
        check_probabilities(current, SCORE_COLUMN, where="current window")
        return
    numeric, categorical = _columns(req.kind)
    check_frame(reference, where=where_ref, numeric=numeric, categorical=categorical)
    # "Never seen in training": the training snapshot's own categories, else the feature contract's.
    known = (
        known_categories(reference, categorical)
        if about["kind"] == "training"
        else {c: set(CATEGORIES[c]) for c in categorical}
    )
    check_frame(current, where="current window", numeric=numeric, categorical=categorical, known=known)


def _calibration(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    settings: DriftSettings,
    numeric: list[str],
    categorical: list[str],
    methods: dict[str, str],
    thresholds: dict[str, float],
) -> Calibration | None:
    return size_aware(
        current,
        reference,
        numeric=numeric,
        categorical=categorical,
        methods=methods,
        thresholds=thresholds,
        below_rows=settings.calibrate_below_rows,
        resamples=settings.calibration_resamples,
        quantile=settings.calibration_quantile,
        seed=settings.seed,
    )


def run_job(
    cfg: MonitoringConfig,
    settings: DriftSettings,
    req: DriftRequest,
    *,
    say: Callable[[str], None],
    progress: ProgressFn | None = None,
) -> JobOutcome:
    """Run one drift job to a verdict. Raises DriftInputError for input it cannot judge."""
    numeric, categorical = _columns(req.kind)
    features = [*numeric, *categorical]
    cols = [*features, req.by] if req.by else features
    win = _current(cfg, settings, req, cols, progress, say)
    reference, about = _reference(cfg, settings, req, win, cols)
    current = win.table.to_pandas()
    _check(req, current, reference, about)
    base: dict[str, Any] = {
        "job": f"drift_{req.kind}",
        "model": MODEL,
        "model_version": win.model_version,
        "against": req.against,
        "share_gate": settings.gates.share_gate,
        "retrain_gate": settings.gates.retrain_gate,
        "window": {"start": win.start.isoformat(), "end": win.end.isoformat(), "days": req.days},
        "n_current": len(current),
        "n_current_total": win.n_rows_total,
        "n_current_from_samples": win.rows_from_samples,
        "n_reference": len(reference),
        "min_rows": settings.min_rows,
        "sampled": win.sampled or bool(about["sampled"]),
        "max_rows": settings.max_rows,
        "versions_seen": win.versions_seen,
        "reference": about,
    }
    if len(current) < settings.min_rows:
        # Too few rows to tell drift from noise: a successful run with nothing to report, not a verdict.
        say(f"too few rows: {len(current):,} in the window, fewer than monitoring.drift.min_rows")
        return JobOutcome(0, {**base, "verdict": "too_few_rows"}, [])

    say(f"computing drift: {len(current):,} current vs {len(reference):,} reference rows (loading Evidently)")
    pinned = {c: m for c, m in settings.methods.items() if c in features}
    thresholds = {c: t for c, t in settings.thresholds.items() if c in features}
    cal = _calibration(current, reference, settings, numeric, categorical, pinned, thresholds)
    if cal is not None:
        say(f"small window: thresholds calibrated at {len(current):,} rows ({cal.resamples} calm resamples)")
        pinned, thresholds = cal.methods, cal.thresholds
    run = engine.run_drift(
        current, reference, numeric=numeric, categorical=categorical, methods=pinned, thresholds=thresholds
    )
    verdict = decide(run.columns, settings.gates)
    summary: dict[str, Any] = {
        **base,
        **verdict.as_json(),
        "evidently_share_drifted": run.evidently_share,
        "columns": columns_json(run.columns),
        "window": {"start": win.start.isoformat(), "end": win.end.isoformat(), "days": req.days},
        "n_current": len(current),
        "n_current_total": win.n_rows_total,
        "n_reference": len(reference),
        "sampled": win.sampled or bool(about["sampled"]),
        "max_rows": settings.max_rows,
        "versions_seen": win.versions_seen,
        "reference": about,
        "skipped_files": list(win.skipped_files),
        "calibration": cal.as_json() if cal is not None else None,
    }
    if req.by:
        summary["segments"] = segment_drift(
            current,
            reference,
            by=req.by,
            whole=run,
            numeric=numeric,
            categorical=categorical,
            gates=settings.gates,
            min_rows=settings.min_segment_rows,
            max_segments=settings.max_segments,
            say=say,
            calibrate=lambda cur, ref, methods, limits: _calibration(
                cur, ref, settings, numeric, categorical, methods, limits
            ),
        )
    if req.html:
        engine.save_html(run, req.html)
        summary["html"] = str(req.html)
    metrics = data_metrics(summary) if req.kind == "data" else prediction_metrics(summary)
    return JobOutcome(exit_code(verdict), summary, metrics)
