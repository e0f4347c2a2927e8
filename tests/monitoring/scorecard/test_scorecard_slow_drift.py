"""The scorecard's drift lane on a short month, through the real rules and promtool: the slow drift
(prices +1% a day) moves one or two of seven columns, never enough for the share gate, and is ticketed by
FeatureDriftPersistent within its 7-day goal; the calm deployment (`churn-calm`) files nothing, and
neither does anything else in a month whose only faults are the drifts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring.scorecard.faults import DAY
from monitoring.scorecard.ml import CALM_VERSION, RUN_MINUTE, ml_faults, ml_series
from monitoring.scorecard.promtool import evaluate
from monitoring.scorecard.score import plan, score
from monitoring.scorecard.series import SeriesStore

DAYS = 8


def _daily(store: SeriesStore, name: str, labels: dict[str, str]) -> np.ndarray:
    return store.series[store.key(name, labels)][RUN_MINUTE::DAY]  # each day's 02:00 run


@pytest.mark.slow
def test_slow_drift_is_ticketed_per_column_within_a_week_and_calm_stays_quiet(churn_artifact: Path) -> None:
    faults = [f for f in ml_faults(DAYS) if f.kind in {"covariate", "slow_drift"}]
    slow = next(f for f in faults if f.kind == "slow_drift")
    store = SeriesStore(DAYS * DAY)
    ml_series(DAYS, 1, pd.read_parquet(churn_artifact / "train_reference.parquet"), faults, store)

    base = {"job": "drift_data", "model": "churn", "against": "training"}
    slow_share = _daily(store, "modelgate_drift_share", {**base, "model_version": "churn-slow"})
    price = _daily(
        store,
        "modelgate_drift_column_drifted",
        {**base, "model_version": "churn-slow", "column": "monthly_charges"},
    )
    # The share gate never sees the slow drift in its first week; the price column's own flag does.
    assert np.all(slow_share <= 0.3), slow_share
    assert price[0] == 0.0 and price[-1] == 1.0, price
    calm = [
        _daily(store, "modelgate_drift_column_drifted", {**base, "model_version": CALM_VERSION, "column": c})
        for c in ("tenure_months", "monthly_charges", "total_charges", "contract_type")
    ]
    assert all(np.all(flags == 0.0) for flags in calm), calm

    card = score(
        faults, evaluate(store, plan(faults, store.minutes)), days=DAYS, seed=1, minutes=store.minutes
    )
    row = next(r for r in card["faults"] if r["name"] == slow.name)
    assert row["alert"] == "FeatureDriftPersistent", row
    assert row["met"] and row["detect_seconds"] <= 7 * 86400, row
    # Not before the flag had held for a day: the first flagged run plus one day, plus `for: 5m`.
    first = int(np.argmax(price == 1.0))
    assert row["detect_seconds"] >= 60.0 * ((first + 1) * DAY + RUN_MINUTE), (row, first)
    assert card["false_alarms"] == [], card["false_alarms"]
