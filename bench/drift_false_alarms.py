"""False-alarm rate of the data-drift verdict on calm windows, per window size and per segment size.

    python -m bench.drift_false_alarms [--artifact DIR] [--trials 20] [--sizes 200,1000,10000,100000]

A calm window is drawn from the model's own training snapshot (rows sampled with replacement), so any
`drift` verdict is a false alarm. Each window is judged twice by the job's own functions
(`monitoring.drift.calibrate.size_aware`, `engine.run_drift`, `verdict.decide`, what `modelgate drift
data` calls): with fixed thresholds (calibration off, the behaviour before window-size awareness) and
with the default size-aware thresholds. Printed per size: trials, windows judged `drift`, and how many
windows had 1, 2, 3+ columns flagged. The segment rows split one 10,000-row calm window into tenants of
9,000 / 800 / 200 rows and run the `--by tenant` path. The figures in docs/drift.md come from this.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from adapters.churn.schema import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from monitoring.drift.calibrate import size_aware
from monitoring.drift.engine import run_drift
from monitoring.drift.segments import segment_drift
from monitoring.drift.settings import DriftSettings
from monitoring.drift.verdict import decide

NUMERIC, CATEGORICAL = list(NUMERIC_FEATURES), list(CATEGORICAL_FEATURES)


def judge(current: pd.DataFrame, reference: pd.DataFrame, settings: DriftSettings) -> int:
    """Number of drifted columns for one window (the verdict is `drift` when >= 3 of 7)."""
    cal = size_aware(
        current,
        reference,
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        methods={},
        thresholds={},
        below_rows=settings.calibrate_below_rows,
        resamples=settings.calibration_resamples,
        quantile=settings.calibration_quantile,
        seed=settings.seed,
    )
    methods, thresholds = (cal.methods, cal.thresholds) if cal else ({}, {})
    run = run_drift(
        current, reference, numeric=NUMERIC, categorical=CATEGORICAL, methods=methods, thresholds=thresholds
    )
    return decide(run.columns, settings.gates).n_drifted


def window_rows(reference: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    return reference.iloc[rng.integers(0, len(reference), n)].reset_index(drop=True)


def by_size(reference: pd.DataFrame, sizes: list[int], trials: int, seed: int) -> None:
    modes = {"fixed": DriftSettings(calibration_resamples=0), "size-aware": DriftSettings()}
    print("| rows | thresholds | trials | windows judged drift | columns flagged per window (0/1/2/3+) |")
    print("|---:|---|---:|---:|---|")
    for n in sizes:
        count = trials if n <= 1000 else max(3, trials // (4 if n <= 10_000 else 8))
        for name, settings in modes.items():
            rng = np.random.default_rng(seed)
            flagged = Counter(
                min(judge(window_rows(reference, n, rng), reference, settings), 3) for _ in range(count)
            )
            drift = flagged[3]
            spread = "/".join(str(flagged[k]) for k in range(4))
            print(f"| {n:,} | {name} | {count} | {drift} ({drift / count:.0%}) | {spread} |", flush=True)


def by_segment(reference: pd.DataFrame, trials: int, seed: int) -> None:
    sizes = {"big": 9000, "mid": 800, "small": 200}
    settings = DriftSettings()
    rng = np.random.default_rng(seed)
    drift: Counter[str] = Counter()
    for _ in range(trials):
        parts = [window_rows(reference, n, rng).assign(tenant=t) for t, n in sizes.items()]
        current = pd.concat(parts, ignore_index=True)
        whole = run_drift(current, reference, numeric=NUMERIC, categorical=CATEGORICAL)
        out = segment_drift(
            current,
            reference,
            by="tenant",
            whole=whole,
            numeric=NUMERIC,
            categorical=CATEGORICAL,
            gates=settings.gates,
            min_rows=settings.min_segment_rows,
            max_segments=settings.max_segments,
            say=lambda _m: None,
            calibrate=lambda cur, ref, m, t: size_aware(
                cur,
                ref,
                numeric=NUMERIC,
                categorical=CATEGORICAL,
                methods=m,
                thresholds=t,
                below_rows=settings.calibrate_below_rows,
                resamples=settings.calibration_resamples,
                quantile=settings.calibration_quantile,
                seed=settings.seed,
            ),
        )
        for tenant, entry in out["segments"].items():
            drift[tenant] += entry.get("verdict") == "drift"
    print("\n| segment | rows | trials | segments judged drift (size-aware) |")
    print("|---|---:|---:|---:|")
    for tenant, n in sizes.items():
        print(f"| {tenant} | {n:,} | {trials} | {drift[tenant]} ({drift[tenant] / trials:.0%}) |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.drift_false_alarms")
    parser.add_argument("--artifact", type=Path, required=True, help="a `modelgate churn train` artifact")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--sizes", default="200,1000,10000,100000")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    reference = pd.read_parquet(args.artifact / "train_reference.parquet")
    started = time.monotonic()
    by_size(reference, [int(s) for s in args.sizes.split(",")], args.trials, args.seed)
    by_segment(reference, max(3, args.trials // 2), args.seed)
    print(f"\n({len(reference):,} reference rows; {time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
