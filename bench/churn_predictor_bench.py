"""Microseconds per row: `ChurnPredictor.predict_one` against the Pipeline on a one-row DataFrame.

The baseline is what the reference service does per request (build a one-row DataFrame, call
`predict_proba`); the fast path is the arithmetic `ChurnPredictor` extracts from the same pipeline.
Both score the same rows in the same run, and their answers are checked to agree first.

    python -m bench.churn_predictor_bench [--artifact DIR] [--seconds 1.0]

Without `--artifact`, a model is trained on 5,000 rows into a temporary directory.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from adapters.churn.generator import generate_customers
from adapters.churn.predictor import ChurnPredictor

__all__ = ["PredictorBench", "main", "measure"]


@dataclass(frozen=True)
class PredictorBench:
    """Per-row costs in microseconds, measured in one sitting."""

    predict_one_us: float
    predict_many_us: float
    sklearn_one_row_us: float

    @property
    def speedup(self) -> float:
        return self.sklearn_one_row_us / self.predict_one_us


def _us_per_row(score: Callable[[Any], object], items: Sequence[Any], seconds: float, chunk: int) -> float:
    """Best of 3 rounds (each ≥ `seconds`/3) of microseconds per item, cycling through `items`."""
    best = float("inf")
    for _ in range(3):
        done, pos = 0, 0
        started = time.perf_counter()
        deadline = started + seconds / 3
        while True:
            batch = items[pos : pos + chunk]
            for item in batch:
                score(item)
            done += len(batch)
            pos = (pos + chunk) % len(items)
            now = time.perf_counter()
            if now >= deadline:
                break
        best = min(best, (now - started) / done * 1e6)
    return best


def measure(artifact_dir: Path, *, seconds: float = 1.0, n_rows: int = 1000) -> PredictorBench:
    """Score `n_rows` generated customers both ways; about 3 × `seconds` of wall time."""
    predictor = ChurnPredictor.load(artifact_dir)
    pipeline: Any = joblib.load(artifact_dir / "model.joblib")
    frame = generate_customers(n_rows, seed=2024)
    rows: list[Mapping[str, object]] = frame.to_dict("records")

    fast = np.array([predictor.predict_one(r) for r in rows])
    slow = pipeline.predict_proba(frame)[:, 1]
    if not np.allclose(fast, slow, rtol=0, atol=1e-9):
        raise RuntimeError("predictor and pipeline disagree; the figures would be meaningless")

    one = _us_per_row(predictor.predict_one, rows, seconds, chunk=n_rows)
    many = _us_per_row(predictor.predict_many, [rows], seconds, chunk=1) / n_rows
    # The baseline is ~1000x slower: check the clock every few rows so a round stays near its budget.
    sklearn = _us_per_row(lambda r: pipeline.predict_proba(pd.DataFrame([r])), rows, seconds, chunk=5)
    return PredictorBench(predict_one_us=one, predict_many_us=many, sklearn_one_row_us=sklearn)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.churn_predictor_bench", description=__doc__)
    parser.add_argument("--artifact", type=Path, help="churn artifact directory (default: train one)")
    parser.add_argument("--seconds", type=float, default=1.0, help="time budget per measurement")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        artifact = args.artifact
        if artifact is None:
            from adapters.churn.train import train_model

            artifact = Path(tmp) / "churn"
            train_model(artifact, rows=5000, seed=7)
        result = measure(artifact, seconds=args.seconds)

    lines = [
        ("ChurnPredictor.predict_one", result.predict_one_us),
        ("ChurnPredictor.predict_many (1000 rows)", result.predict_many_us),
        ("Pipeline.predict_proba on a 1-row DataFrame", result.sklearn_one_row_us),
    ]
    for label, value in lines:
        print(f"{label:<45} {value:12.2f} µs/row")
    print(f"speed-up (predict_proba / predict_one): {result.speedup:.0f}x  (target: predict_one < 50 µs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
