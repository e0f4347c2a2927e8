"""The hours-days clock over a simulated month: the jobs run on each day's data, their results become series.

Per simulated day (at 02:00):
- `drift data` logic (the job's own functions: size-aware thresholds, Evidently, the share gate) on that
  day's generated customers against the artifact's training snapshot, for three model deployments: one
  whose population shifts from `covariate_day` (prices +25%, a newer cohort, more month-to-month), one
  drifting slowly (prices +1% a day), and one that stays calm all month (its alerts can only be false
  alarms). Published as `modelgate_drift_share{model_version}` and, per column,
  `modelgate_drift_column_drifted{model_version, column}`, as the gateway's job-result collector would
  re-export them until the next run.
- the eval regression comparison (`evals.regression.compare_paired`, 3 trailing runs) on a 200-item
  suite whose wrong-rate goes 0.05 -> 0.25 on `eval_day`: `modelgate_eval_regression{suite, model}`.
- tenants' spend against their monthly budgets (the gateway's gauges): one tenant starts burning ten
  times its usual rate on `budget_day`.
- `modelgate_job_last_success_timestamp_seconds{job}` for every job on its schedule; `drift_prediction`
  (hourly) and `performance` (daily) stop succeeding on `stale_day`.
The AUC lane (label-free estimate, delayed labels, the concept shift) is monitoring/scorecard/accuracy.py.

    store = ml_series(days=30, seed=1, artifact=Path("models/churn"), faults=ml_faults(30), store=store)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from adapters.churn.generator import ShiftSpec, generate_customers
from adapters.churn.schema import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from evals.regression import ItemOutcome, RegressionConfig, Verdict, compare_paired
from monitoring.drift.calibrate import size_aware
from monitoring.drift.engine import run_drift
from monitoring.drift.settings import DriftSettings
from monitoring.drift.verdict import decide
from monitoring.scorecard.faults import DAY, HOUR, Fault
from monitoring.scorecard.series import SeriesStore

__all__ = ["CALM_VERSION", "JOB_INTERVALS", "RUN_MINUTE", "ml_faults", "ml_series"]

RUN_MINUTE = 2 * HOUR  # daily jobs run at 02:00
JOB_INTERVALS = {  # minutes between runs, as the starter schedule runs them (recording_rules.yml)
    "drift_data": 60,
    "drift_prediction": 60,
    "performance": DAY,
    "labels_ingest": DAY,
    "eval_run": DAY,
    "eval_sample": 60,
    "logs_compact": 60,
}
ROWS_PER_DAY = 6000
CALM_VERSION = "churn-calm"  # no fault: the per-column flags' false alarms, counted over the whole month
SUITE_ITEMS = 200
BUDGET_USD = 300.0
SOFT_FRACTION = 0.8


def ml_faults(days: int) -> list[Fault]:
    """The model-validity faults (issue 16), scaled into a short month when `days` < 30."""
    scale = days / 30.0

    def day(d: int) -> int:
        return max(1, round(d * scale)) * DAY + RUN_MINUTE

    week = 7 * DAY
    return [
        Fault(
            "covariate_drift",
            "covariate",
            day(7) - RUN_MINUTE,
            days * DAY,
            60.0 * (DAY + HOUR),  # seconds: by the first daily run after it starts, and its `for:`
            ("DataDriftDetected", "DataDriftSevere", "FeatureDriftPersistent"),
            attribute_after=0,
            params=(("match", {"model_version": "churn-covariate"}),),
        ),
        Fault(
            "slow_drift_1pct_a_day",
            "slow_drift",
            0,
            days * DAY,
            60.0 * week,
            ("FeatureDriftPersistent", "DataDriftDetected", "DataDriftSevere"),
            attribute_after=0,
            params=(("match", {"model_version": "churn-slow"}),),
            note="prices +1% a day from day 1: the goal (7 days) is counted from the start",
        ),
        Fault(
            "eval_quality_drop",
            "eval_drop",
            day(19) - RUN_MINUTE,
            days * DAY,
            60.0 * (DAY + HOUR),  # seconds: the next scheduled (daily) run, and its `for:`
            ("EvalRegression",),
            attribute_after=0,
            params=(("match", {"suite": "core"}),),
        ),
        Fault(
            "tenant_budget_burn",
            "budget_burn",
            day(24) - RUN_MINUTE,
            days * DAY,
            0,
            ("TenantBudgetSoftLimit", "TenantBudgetExhausted"),
            attribute_after=0,
            params=(("match", {"tenant": "initech"}),),
            note="goal: ticketed before the budget is exhausted (goal_seconds = time to exhaustion)",
        ),
        Fault(
            "stale_job_hourly",
            "stale_hourly",
            day(26) - RUN_MINUTE,
            days * DAY,
            60.0 * 2 * HOUR,
            ("MonitoringJobStale",),
            attribute_after=0,
            params=(("match", {"job": "drift_prediction"}),),
        ),
        Fault(
            "stale_job_daily",
            "stale_daily",
            day(26) - RUN_MINUTE,
            days * DAY,
            60.0 * 2 * DAY,
            ("MonitoringJobStale",),
            attribute_after=0,
            params=(("match", {"job": "performance"}),),
        ),
    ]


def _fault(faults: Sequence[Fault], kind: str) -> Fault | None:
    return next((f for f in faults if f.kind == kind), None)


def _step(minutes: int, run_at: Sequence[int], values: Sequence[float]) -> np.ndarray:
    """A gauge that takes each run's value at its minute and holds it; NaN before the first run."""
    out = np.full(minutes, np.nan)
    for at, value in zip(run_at, values, strict=True):
        out[at:] = value
    return out


def _drift_runs(
    reference: pd.DataFrame,
    days: int,
    seed: int,
    shift_of: Callable[[int], ShiftSpec],
    say: Callable[[str], None],
) -> tuple[list[float], dict[str, list[float]]]:
    """Each day's share of drifted columns, and each column's 0/1 flag per day (what the job exports)."""
    settings = DriftSettings()
    numeric, categorical = list(NUMERIC_FEATURES), list(CATEGORICAL_FEATURES)
    shares: list[float] = []
    flags: dict[str, list[float]] = {c: [] for c in (*numeric, *categorical)}
    for d in range(days):
        current = generate_customers(ROWS_PER_DAY, seed=seed * 1000 + d, shift=shift_of(d))
        cal = size_aware(
            current, reference, numeric=numeric, categorical=categorical, methods={}, thresholds={},
            below_rows=settings.calibrate_below_rows, resamples=settings.calibration_resamples,
            quantile=settings.calibration_quantile, seed=settings.seed,
        )  # fmt: skip
        methods, limits = (cal.methods, cal.thresholds) if cal else ({}, {})
        run = run_drift(
            current, reference, numeric=numeric, categorical=categorical, methods=methods, thresholds=limits
        )
        shares.append(decide(run.columns, settings.gates).share_drifted)
        for col in run.columns:
            flags[col.column].append(1.0 if col.drifted else 0.0)
        say(f"day {d + 1}/{days}: drift share {shares[-1]:.2f}")
    return shares, flags


def _eval_flags(days: int, seed: int, drop_day: int | None) -> list[float]:
    rng = np.random.default_rng(seed + 7)
    difficulty = rng.uniform(0.0, 0.1, SUITE_ITEMS)  # per-item wrong-rate around 0.05
    runs: list[dict[str, ItemOutcome]] = []
    flags = []
    for d in range(days):
        wrong = difficulty + (0.2 if drop_day is not None and d >= drop_day else 0.0)
        passed = rng.random(SUITE_ITEMS) >= wrong
        run = {f"item-{i}": ItemOutcome(bool(p), float(p)) for i, p in enumerate(passed)}
        result = compare_paired(run, runs[-3:], RegressionConfig(seed=d), min_runs=3)
        flags.append(1.0 if result.verdict == Verdict.REGRESSED else 0.0)
        if result.verdict != Verdict.REGRESSED:
            runs.append(run)  # a regressed run does not become anyone's baseline
    return flags


def ml_series(
    days: int, seed: int, reference: pd.DataFrame, faults: Sequence[Fault], store: SeriesStore,
    say: Callable[[str], None] = lambda _m: None,
) -> None:  # fmt: skip
    """Add the job-result and budget series of the month to `store` (one sample a minute)."""
    n = store.minutes
    daily = [d * DAY + RUN_MINUTE for d in range(days)]
    cov, slow = _fault(faults, "covariate"), _fault(faults, "slow_drift")
    labels = {"model": "churn", "against": "training", "job": "drift_data"}

    def publish(version: str, shares: list[float], flags: dict[str, list[float]]) -> None:
        at = {**labels, "model_version": version}
        store.gauge("modelgate_drift_share", at, _step(n, daily, shares))
        for column, values in flags.items():
            store.gauge("modelgate_drift_column_drifted", {**at, "column": column}, _step(n, daily, values))

    if cov is not None:
        start = cov.start // DAY
        big = ShiftSpec(price_factor=1.25, tenure_factor=0.6, month_to_month_share=0.3)
        publish(
            "churn-covariate",
            *_drift_runs(reference, days, seed, lambda d: big if d >= start else ShiftSpec(), say),
        )
    if slow is not None:

        def slope(d: int) -> ShiftSpec:
            return ShiftSpec(price_factor=1.0 + 0.01 * d)

        publish("churn-slow", *_drift_runs(reference, days, seed + 1, slope, say))
    # Customers of its own (a seed no other deployment or scorecard seed uses), no shift all month:
    # every alert on this version is a false alarm.
    publish(CALM_VERSION, *_drift_runs(reference, days, seed + 500, lambda _d: ShiftSpec(), say))
    drop = _fault(faults, "eval_drop")
    flags = _eval_flags(days, seed, drop.start // DAY if drop else None)
    eval_labels = {"model": "sim-llama-3-8b", "suite": "core", "job": "eval_run"}
    store.gauge("modelgate_eval_regression", eval_labels, _step(n, daily, flags))

    # Spend: each tenant uses about half its monthly budget over the month; the burner 10x from its day.
    burn = _fault(faults, "budget_burn")
    minute_rate = 0.5 * BUDGET_USD / (30 * DAY)
    for tenant in ("acme", "globex", "initech"):
        rate = np.full(n, minute_rate)
        if burn is not None and tenant == "initech":
            rate[burn.start :] *= 10.0
        window = {"tenant": tenant, "window": "month"}
        store.gauge("modelgate_tenant_spend_usd", window, np.cumsum(rate))
        store.gauge("modelgate_tenant_budget_usd", window, np.full(n, BUDGET_USD))
        store.gauge("modelgate_tenant_budget_soft_limit_usd", window, np.full(n, SOFT_FRACTION * BUDGET_USD))

    stale = {"drift_prediction": _fault(faults, "stale_hourly"), "performance": _fault(faults, "stale_daily")}
    for job, every in JOB_INTERVALS.items():
        offset = 5 if every == 60 else RUN_MINUTE
        stop = stale.get(job)
        runs = [m for m in range(offset, n, every) if stop is None or m < stop.start]
        store.gauge(
            "modelgate_job_last_success_timestamp_seconds",
            {"job": job},
            _step(n, runs, [60.0 * m for m in runs]),
        )
    store.gauge("up", {"job": "pushgateway", "instance": "127.0.0.1:9091"}, np.ones(n))


def exhaustion_minute(faults: Sequence[Fault], minutes: int) -> int | None:
    """When the burning tenant's spend reaches its budget (the budget fault's deadline)."""
    burn = _fault(faults, "budget_burn")
    if burn is None:
        return None
    minute_rate = 0.5 * BUDGET_USD / (30 * DAY)
    spent = minute_rate * burn.start
    left = (BUDGET_USD - spent) / (10 * minute_rate)
    return burn.start + int(left) if burn.start + left < minutes else None


def load_reference(artifact: Path) -> pd.DataFrame:
    return pd.read_parquet(artifact / "train_reference.parquet")
