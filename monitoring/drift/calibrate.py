"""Per-column drift thresholds calibrated to the window's size, by resampling the reference.

Evidently's distance thresholds are fixed (0.1 for normed Wasserstein and Jensen-Shannon above 1,000
reference rows), but a distance between a small sample and its own population is not near 0: 200 calm
rows drawn from the training snapshot itself scored 0.1-0.2 on several columns, so `drift data` on a
quiet day or a small tenant cried wolf (measured in docs/drift.md). The noise floor of a distance
shrinks like 1/sqrt(n), so the fix depends on n: draw `resamples` bootstrap samples of the window's size
from the reference, score each against the reference with the very stattest Evidently will use, and
raise the column's threshold to the `quantile` of those calm scores when that is above the configured
one. A large window keeps the configured threshold (its noise floor is far below it); a small one gets
a threshold that calm data crosses about (1 - quantile) of the time per column.

Only distance methods are calibrated. A p-value test (KS, chi-squared, Z; Evidently's choice for
references of 1,000 rows or fewer) already accounts for the sample size.

    cal = calibrate(current, reference, numeric=["tenure_months"], categorical=["contract_type"],
                    methods={}, thresholds={}, resamples=50, quantile=0.99, seed=0)
    run_drift(current, reference, ..., methods=cal.methods, thresholds=cal.thresholds)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from monitoring.drift.engine import import_evidently

__all__ = ["DISTANCE_METHODS", "Calibration", "calibrate"]

# Evidently stattests whose score is a distance (drift when score >= threshold); the others return
# p-values (drift when p < threshold), which already account for the sample size.
DISTANCE_METHODS = frozenset({"wasserstein", "jensenshannon", "psi", "kl_div", "hellinger", "ed"})


@dataclass(frozen=True)
class Calibration:
    """The methods and thresholds a run should pin, and the calm-score quantiles behind them."""

    n_rows: int
    resamples: int
    quantile: float
    methods: dict[str, str]
    thresholds: dict[str, float]
    calm_quantiles: dict[str, float]

    def as_json(self) -> dict[str, Any]:
        return {
            "n_rows": self.n_rows,
            "resamples": self.resamples,
            "quantile": self.quantile,
            "calm_quantiles": self.calm_quantiles,
            "raised": sorted(c for c, q in self.calm_quantiles.items() if self.thresholds[c] == q),
        }


def calibrate(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    methods: Mapping[str, str],
    thresholds: Mapping[str, float],
    resamples: int,
    quantile: float,
    seed: int,
    n_rows: int | None = None,
) -> Calibration:
    """Pin each column's method (configured, else Evidently's own choice) and its size-aware threshold.

    `n_rows` is the window size to calibrate for (default: `len(current)`); `resamples=0` keeps the
    configured thresholds and only pins the methods.
    """
    import_evidently()
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    size = len(current) if n_rows is None else n_rows
    rng = np.random.default_rng(seed)
    kinds = {**{c: ColumnType.Numerical for c in numeric}, **{c: ColumnType.Categorical for c in categorical}}
    # One set of bootstrap row indices for all columns: the columns of a calm window move together.
    draws = [rng.integers(0, len(reference), size) for _ in range(resamples)]
    pinned: dict[str, str] = {}
    final: dict[str, float] = {}
    calm: dict[str, float] = {}
    for column, kind in kinds.items():
        test = get_stattest(reference[column], current[column], kind, methods.get(column))
        pinned[column] = test.name
        configured = thresholds.get(column, test.default_threshold)
        final[column] = configured
        if test.name not in DISTANCE_METHODS or resamples == 0:
            continue
        ref = reference[column].reset_index(drop=True)
        scores = [
            float(test(ref, ref.iloc[idx].reset_index(drop=True), kind, configured).drift_score)
            for idx in draws
        ]
        calm[column] = float(np.quantile(scores, quantile))
        final[column] = max(configured, calm[column])
    return Calibration(size, resamples, quantile, pinned, final, calm)


def size_aware(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    methods: Mapping[str, str],
    thresholds: Mapping[str, float],
    below_rows: int,
    resamples: int,
    quantile: float,
    seed: int,
) -> Calibration | None:
    """`calibrate` for a window smaller than `below_rows`, else None (the configured thresholds hold)."""
    if len(current) >= below_rows or resamples == 0:
        return None
    return calibrate(
        current,
        reference,
        numeric=numeric,
        categorical=categorical,
        methods=methods,
        thresholds=thresholds,
        resamples=resamples,
        quantile=quantile,
        seed=seed,
    )
