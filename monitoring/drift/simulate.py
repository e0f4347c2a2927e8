"""`modelgate drift simulate`: write a window of scored predictions into the prediction-log layout.

Customers come from the churn generator (`adapters.churn.generator`), scores from the real predictor of an
artifact, rows from `gateway.logcontract.rows.write_prediction_rows` (one file per UTC day), so a drift job,
a demo or a test can run on a log that looks like the gateway's with a KNOWN shift:

| --shift | population |
|---|---|
| `calm` | the training distribution |
| `covariate` | monthly charges x1.25, tenure x0.6, 40 % of one/two-year contracts moved to month-to-month |

Rows are spread uniformly over `[end - days, end)`, tenants drawn uniformly from `tenants`. Every draw is
seeded by (`seed`, day), and the generator's seeds are far from the small seeds training uses, so a calm
window is new customers from the reference distribution, not the training rows again.

    simulate("data/predictions", artifact_dir=Path("data/models/churn"), days=7, rows_per_day=2000,
             shift="covariate")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from adapters.churn.artifact import ArtifactError
from adapters.churn.generator import ShiftSpec, generate_customers
from adapters.churn.predictor import ChurnPredictor
from adapters.churn.schema import PREDICTION_LABELS
from gateway.logcontract.rows import write_prediction_rows
from gateway.logcontract.window import window_bounds
from monitoring.drift.errors import DriftInputError

__all__ = ["DEFAULT_TENANTS", "SHIFTS", "SimulationResult", "simulate"]

SHIFTS: dict[str, ShiftSpec] = {
    "calm": ShiftSpec(),
    "covariate": ShiftSpec(price_factor=1.25, tenure_factor=0.6, month_to_month_share=0.4),
}
DEFAULT_TENANTS: tuple[str, ...] = ("acme", "globex", "initech")
_DAY_US = 86_400_000_000


@dataclass(frozen=True)
class SimulationResult:
    model_version: str
    rows: int
    files: list[str]
    start: datetime
    end: datetime


def _day_frame(
    predictor: ChurnPredictor,
    *,
    day_start: datetime,
    rows: int,
    shift: ShiftSpec,
    tenants: Sequence[str],
    seed: int,
    day: int,
) -> pd.DataFrame:
    seq = np.random.SeedSequence([seed, day])
    gen_seed, own_seed = (int(s) for s in seq.generate_state(2))
    frame = generate_customers(rows, seed=gen_seed, shift=shift)
    rng = np.random.default_rng(own_seed)
    offsets = np.sort(rng.integers(0, _DAY_US, size=rows))
    scores = predictor.predict_many(frame.to_dict("records"))
    labels = np.where(scores >= predictor.threshold, PREDICTION_LABELS[1], PREDICTION_LABELS[0])
    ids = [f"sim-{seed}-{day}-{i}" for i in range(rows)]
    frame.insert(0, "ts", pd.Timestamp(day_start) + pd.to_timedelta(offsets, unit="us"))
    frame.insert(1, "request_id", ids)
    frame.insert(2, "tenant", np.asarray(tenants, dtype=object)[rng.integers(0, len(tenants), size=rows)])
    frame.insert(3, "customer_id", [f"cust-{seed}-{day}-{i}" for i in range(rows)])
    frame["churn_probability"] = scores
    frame["prediction"] = labels
    return frame


def simulate(
    out_uri: str,
    *,
    artifact_dir: Path,
    days: int,
    rows_per_day: int,
    shift: str = "calm",
    model_version: str | None = None,
    end: datetime | None = None,
    seed: int = 0,
    tenants: Sequence[str] = DEFAULT_TENANTS,
    say: Callable[[str], None] = lambda _msg: None,
) -> SimulationResult:
    """Write `days * rows_per_day` scored rows under `model_version` (default: the artifact's version)."""
    if shift not in SHIFTS:
        raise DriftInputError(f"unknown shift {shift!r} (choose {', '.join(SHIFTS)})")
    if rows_per_day < 1:
        raise DriftInputError(f"--rows-per-day must be >= 1, got {rows_per_day}")
    if not tenants or not all(tenants):
        raise DriftInputError("--tenants must name at least one tenant")
    try:
        predictor = ChurnPredictor.load(artifact_dir)
    except ArtifactError as exc:
        raise DriftInputError(str(exc)) from exc
    version = model_version or predictor.version
    start, stop = window_bounds(days, end)
    files: list[str] = []
    for day in range(days):
        day_start = start + timedelta(days=day)
        frame = _day_frame(
            predictor,
            day_start=day_start,
            rows=rows_per_day,
            shift=SHIFTS[shift],
            tenants=tenants,
            seed=seed,
            day=day,
        )
        try:
            files += write_prediction_rows(out_uri, frame, version)
        except (OSError, ValueError) as exc:
            raise DriftInputError(f"cannot write to {out_uri}: {exc}") from exc
        say(f"day {day + 1}/{days}: {rows_per_day:,} rows ({shift}) from {day_start:%Y-%m-%d %H:%M} UTC")
    return SimulationResult(version, days * rows_per_day, files, start, stop)
