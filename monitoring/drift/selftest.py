"""`modelgate drift prediction --self-test`: check the prediction-drift detector itself.

A detector that never fires looks exactly like a healthy model, so this runs it on two inputs whose answer
is known, both built from the validation scores (`val_scores.parquet`) of the model version:
- calm: a seeded half of the scores, which must NOT be flagged;
- shifted: the same half plus 0.15, clipped to [0, 1], which MUST be flagged.
Exit 0 only when both hold, else 1. The self-test publishes no job result: it checks the instrument,
not the model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monitoring.config import MonitoringConfig
from monitoring.drift import engine
from monitoring.drift.checks import check_probabilities
from monitoring.drift.errors import DriftInputError
from monitoring.drift.reference import VAL_SCORES_FILE, artifact_version, find_artifact, read_reference
from monitoring.drift.settings import DriftSettings
from monitoring.drift.verdict import ColumnDrift, columns_json

__all__ = ["SHIFT", "self_test"]

SHIFT = 0.15
_COLUMN = "churn_probability"


def self_test(
    cfg: MonitoringConfig, settings: DriftSettings, model_version: str | None, *, say: Callable[[str], None]
) -> tuple[int, dict[str, Any]]:
    """Run the calm and shifted checks; return the exit code and a JSON summary."""
    version = model_version or artifact_version(cfg.artifact_dir)
    if not version:
        raise DriftInputError(
            f"no churn artifact at {cfg.artifact_dir} (train one with `modelgate churn train`)"
        )
    folder = find_artifact(version, current=cfg.artifact_dir, mapping=settings.artifacts)
    ref = read_reference(folder / VAL_SCORES_FILE, [_COLUMN], max_rows=settings.max_rows, seed=settings.seed)
    where = f"reference {ref.source}"
    check_probabilities(ref.frame, _COLUMN, where=where)
    calm = ref.frame.sample(frac=0.5, random_state=settings.seed)
    shifted = calm.assign(**{_COLUMN: (calm[_COLUMN] + SHIFT).clip(0.0, 1.0)})
    pinned = {c: m for c, m in settings.methods.items() if c == _COLUMN}
    thresholds = {c: t for c, t in settings.thresholds.items() if c == _COLUMN}

    say(f"self-test: {len(calm):,} calm and shifted scores vs {len(ref.frame):,} reference rows")
    results: dict[str, ColumnDrift] = {}
    for name, current in (("calm", calm), ("shifted", shifted)):
        run = engine.run_drift(
            current, ref.frame, numeric=[_COLUMN], categorical=[], methods=pinned, thresholds=thresholds
        )
        results[name] = run.columns[0]
    passed = not results["calm"].drifted and results["shifted"].drifted
    summary = {
        "self_test": True,
        "passed": passed,
        "model": "churn",
        "model_version": version,
        "reference": ref.source,
        "n_reference": len(ref.frame),
        "n_sample": len(calm),
        "shift": SHIFT,
        "calm": columns_json([results["calm"]])[_COLUMN],
        "shifted": columns_json([results["shifted"]])[_COLUMN],
    }
    return (0 if passed else 1), summary
