"""The 30+-day clock in a scorecard month: the churn model's AUC, estimated without labels every day and
realised once the billing labels arrive, 30 days after the predictions they label.

Two deployments of the artifact's model serve generated customers (6,000 a day, with their true churn
outcomes drawn by the generator):
- `churn-cohort`: from the covariate day a newer, mostly month-to-month cohort arrives (tenure x0.3, 80%
  of contracts month-to-month). The inputs move to where the model ranks customers worse, so the true
  AUC falls (~0.80 -> ~0.74) — a drop the label-free estimate (CBPE, monitoring/performance/cbpe.py,
  calibrated on the artifact's validation split as the `performance` job does) can see in that day's
  scores alone, and EstimatedAccuracyDrop should ticket within a day.
- `churn-concept`: from the concept day the relation between features and churn changes
  (`concept_shift=0.5`); the inputs and the scores keep their distributions. The estimate stays where
  it was — no label-free method sees a pure concept shift — and DelayedAccuracyDrop can fire only once
  the labels of the shifted days arrive, 30 days later: day 45 for a shift on day 15, after a 30-day
  month. The scorecard says so (the fault is "not observable within the month") instead of scoring it.

At 02:00 each day the `performance` job's gauges: `modelgate_model_auc{source="estimate"}` (that day's
scores), `modelgate_model_auc{source="labels"}` (the AUC of the day whose labels arrived, once any have)
and `modelgate_model_reference_auc` (the artifact's validation AUC).

    faults = accuracy_faults(days=30)
    notes = accuracy_series(30, seed=1, artifact=Path("models/churn"), faults=faults, store=store)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt

from adapters.churn.artifact import MODEL_FILE
from adapters.churn.generator import ShiftSpec, generate_labelled
from monitoring.performance.cbpe import estimate_performance
from monitoring.performance.classification import auc
from monitoring.performance.evaluate import Reference
from monitoring.performance.job import load_reference
from monitoring.performance.settings import PerformanceSettings
from monitoring.scorecard.faults import DAY, HOUR, Fault
from monitoring.scorecard.series import SeriesStore

__all__ = ["COHORT", "CONCEPT", "LABEL_DELAY_DAYS", "accuracy_faults", "accuracy_series"]

LABEL_DELAY_DAYS = 30  # the billing export labels a prediction 30 days after it was made
RUN_MINUTE = 2 * HOUR  # the daily performance job
ROWS_PER_DAY = 6000
COHORT = ShiftSpec(tenure_factor=0.3, month_to_month_share=0.8)
CONCEPT = ShiftSpec(concept_shift=0.5)
_LABELS = {"model": "churn", "job": "performance"}


def _shift_day(days: int, day: int) -> int:
    """Day index of a fault given for a 30-day month, scaled into a shorter one."""
    return max(1, round(day * min(1.0, days / 30.0)))


def accuracy_faults(days: int) -> list[Fault]:
    """The AUC faults: the cohort's drop estimated label-free within a day; the concept shift flagged
    by the first daily run after its labels arrive (observable only when that falls inside the month)."""
    cohort_day, concept_day = _shift_day(days, 7), _shift_day(days, 14)
    labels_arrive = (concept_day + LABEL_DELAY_DAYS) * DAY + RUN_MINUTE
    return [
        Fault(
            "auc_drop_covariate_estimated",
            "cohort_auc",
            cohort_day * DAY,
            days * DAY,
            60.0 * DAY,  # seconds: estimated (label-free) within a day
            ("EstimatedAccuracyDrop", "DelayedAccuracyDrop"),
            attribute_after=0,
            params=(("match", {"model_version": "churn-cohort"}),),
        ),
        Fault(
            "concept_shift_labels_30d_late",
            "concept_auc",
            concept_day * DAY,
            days * DAY,
            60.0 * ((LABEL_DELAY_DAYS + 1) * DAY + HOUR),  # seconds: the first run after the labels arrive
            ("DelayedAccuracyDrop",),
            attribute_after=0,
            params=(("match", {"model_version": "churn-concept"}),),
            observable_at=labels_arrive,
        ),
    ]


@dataclass(frozen=True)
class _Day:
    scores: npt.NDArray[np.float64]
    churned: npt.NDArray[np.int64]
    estimate: float
    true_auc: float


def _days(
    model: Any, reference: Reference, days: int, seed: int, shift_from: int, shift: ShiftSpec
) -> list[_Day]:
    """Each day's customers scored by the model, the CBPE estimate of their AUC and the true AUC."""
    settings = PerformanceSettings()
    if reference.cbpe is None:
        raise ValueError("the artifact has no calibration for the label-free estimate")
    out = []
    for d in range(days):
        rows = generate_labelled(
            ROWS_PER_DAY, seed=seed * 7919 + d, shift=shift if d >= shift_from else ShiftSpec()
        )
        churned = rows.pop("churned").to_numpy(dtype=np.int64)
        scores = np.asarray(model.predict_proba(rows)[:, 1], dtype=np.float64)
        est = estimate_performance(
            reference.cbpe,  # fitted by load_reference
            scores,
            scores >= reference.threshold,
            n_draws=settings.bootstrap,
            seed=settings.seed,
        )
        if est is None or est.auc is None:
            raise ValueError(f"day {d + 1}: no label-free estimate for {ROWS_PER_DAY} rows")
        out.append(_Day(scores, churned, est.auc, auc(scores, churned)))
    return out


def _step(minutes: int, values: dict[int, float]) -> np.ndarray:
    out = np.full(minutes, np.nan)
    for d, value in sorted(values.items()):
        at = d * DAY + RUN_MINUTE
        if at < minutes:
            out[at:] = value
    return out


def accuracy_series(
    days: int, seed: int, artifact: Path, faults: Sequence[Fault], store: SeriesStore
) -> dict[str, str]:
    """Add both deployments' AUC gauges to `store`; per fault, a note with the AUCs it was judged on."""
    reference = load_reference(artifact, PerformanceSettings())
    model = joblib.load(Path(artifact) / MODEL_FILE)
    notes = {}
    for fault, version, shift in (
        (next(f for f in faults if f.kind == "cohort_auc"), "churn-cohort", COHORT),
        (next(f for f in faults if f.kind == "concept_auc"), "churn-concept", CONCEPT),
    ):
        shift_from = fault.start // DAY
        daily = _days(model, reference, days, seed, shift_from, shift)
        labels = {**_LABELS, "model_version": version}
        store.gauge(
            "modelgate_model_auc",
            {**labels, "source": "estimate"},
            _step(store.minutes, {d: x.estimate for d, x in enumerate(daily)}),
        )
        # The labels of day d's predictions arrive on day d + 30: that run reports day d's realised AUC.
        realised = {
            d + LABEL_DELAY_DAYS: auc(x.scores, x.churned)
            for d, x in enumerate(daily)
            if d + LABEL_DELAY_DAYS < days
        }
        if realised:
            store.gauge("modelgate_model_auc", {**labels, "source": "labels"}, _step(store.minutes, realised))
        store.gauge(
            "modelgate_model_reference_auc",
            labels,
            np.full(store.minutes, reference.validation_auc),
        )
        before, after = daily[:shift_from], daily[shift_from:]

        def mean(xs: list[_Day], key: str) -> float:
            return float(np.mean([getattr(x, key) for x in xs]))

        notes[fault.name] = (
            f"validation AUC {reference.validation_auc:.3f}; true AUC {mean(before, 'true_auc'):.3f} before, "
            f"{mean(after, 'true_auc'):.3f} after; label-free estimate {mean(before, 'estimate'):.3f} "
            f"before, {mean(after, 'estimate'):.3f} after"
        )
        if not fault.observable_within(store.minutes):
            arrive = (fault.observable_at or 0) // DAY + 1
            notes[fault.name] += (
                f"; its labels arrive on day {arrive}, after this {days}-day month: not detectable within "
                "the month (no label-free method sees a pure concept shift)"
            )
    return notes
