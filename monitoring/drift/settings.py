"""The `monitoring.drift` section of modelgate.yaml, validated.

Every key is optional:

```yaml
monitoring:
  drift:
    share_gate: 0.3          # share of drifted columns at which the verdict is `drift` (exit 1)
    retrain_gate: 0.6        # share at which the JSON says `retrain_candidate: true`
    max_rows: 200000         # larger windows (and references) are read as a seeded uniform sample
    seed: 0                  # the sample's seed
    days: 7                  # default --days
    methods:                 # pin a stattest per column (default: Evidently chooses by reference size)
      monthly_charges: psi
    thresholds:              # per-column threshold (default: the method's own)
      monthly_charges: 0.2
    artifacts:               # artifact folder per model version, for versions no longer current
      churn-20251101T000000Z-1a2b3c4d: /models/churn-20251101
    min_segment_rows: 200    # --by tenant skips segments with fewer current rows
    max_segments: 50         # --by tenant reports the largest segments only
    min_rows: 100            # a smaller window is not judged: verdict `too_few_rows`, exit 0
    calibrate_below_rows: 5000   # windows (and segments) smaller than this get size-aware thresholds
    calibration_resamples: 50    # calm bootstrap samples of the reference per calibration (0: off)
    calibration_quantile: 0.99   # a distance threshold rises to this quantile of the calm scores
```

Why the last four (measured in docs/drift.md): a distance between a small calm sample and its own
population is well above 0, so fixed thresholds flag calm 200-row windows; see monitoring/drift/calibrate.py.

Relative `artifacts` paths resolve against the config file's folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitoring.drift.errors import DriftInputError
from monitoring.drift.verdict import Gates

__all__ = ["DriftSettings", "drift_settings"]

_KEYS = {
    "share_gate",
    "retrain_gate",
    "max_rows",
    "seed",
    "days",
    "methods",
    "thresholds",
    "artifacts",
    "min_segment_rows",
    "max_segments",
    "min_rows",
    "calibrate_below_rows",
    "calibration_resamples",
    "calibration_quantile",
}


@dataclass(frozen=True)
class DriftSettings:
    gates: Gates = field(default_factory=Gates)
    max_rows: int = 200_000
    seed: int = 0
    days: int = 7
    methods: dict[str, str] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, Path] = field(default_factory=dict)
    min_segment_rows: int = 200
    max_segments: int = 50
    min_rows: int = 100
    calibrate_below_rows: int = 5000
    calibration_resamples: int = 50
    calibration_quantile: float = 0.99


def _number(section: Mapping[str, Any], key: str, default: float) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DriftInputError(f"monitoring.drift.{key} must be a number, got {value!r}")
    return float(value)


def _whole(section: Mapping[str, Any], key: str, default: int, low: int) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise DriftInputError(f"monitoring.drift.{key} must be a whole number >= {low}, got {value!r}")
    return value


def _mapping(section: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = section.get(key) or {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise DriftInputError(f"monitoring.drift.{key} must be a mapping of names to values")
    return value


def drift_settings(section: Mapping[str, Any], base: Path) -> DriftSettings:
    """Validate `monitoring.drift`; `base` is the folder relative artifact paths resolve against."""
    unknown = sorted(set(section) - _KEYS)
    if unknown:
        raise DriftInputError(f"monitoring.drift: unknown key(s) {', '.join(unknown)}")
    try:
        gates = Gates(_number(section, "share_gate", 0.3), _number(section, "retrain_gate", 0.6))
    except ValueError as exc:
        raise DriftInputError(f"monitoring.drift: {exc}") from None
    methods = _mapping(section, "methods")
    if not all(isinstance(v, str) and v for v in methods.values()):
        raise DriftInputError("monitoring.drift.methods values must be stattest names, e.g. psi")
    thresholds = _mapping(section, "thresholds")
    if not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in thresholds.values()
    ):
        raise DriftInputError("monitoring.drift.thresholds values must be positive numbers")
    quantile = _number(section, "calibration_quantile", 0.99)
    if not 0.5 <= quantile < 1.0:
        raise DriftInputError(f"monitoring.drift.calibration_quantile must be in [0.5, 1), got {quantile}")
    artifacts = _mapping(section, "artifacts")
    if not all(isinstance(v, str) and v for v in artifacts.values()):
        raise DriftInputError("monitoring.drift.artifacts values must be folder paths")
    return DriftSettings(
        gates=gates,
        max_rows=_whole(section, "max_rows", 200_000, 1),
        seed=_whole(section, "seed", 0, 0),
        days=_whole(section, "days", 7, 1),
        methods={k: str(v) for k, v in methods.items()},
        thresholds={k: float(v) for k, v in thresholds.items()},
        artifacts={k: (base / Path(v).expanduser()) for k, v in artifacts.items()},
        min_segment_rows=_whole(section, "min_segment_rows", 200, 1),
        max_segments=_whole(section, "max_segments", 50, 1),
        min_rows=_whole(section, "min_rows", 100, 1),
        calibrate_below_rows=_whole(section, "calibrate_below_rows", 5000, 0),
        calibration_resamples=_whole(section, "calibration_resamples", 50, 0),
        calibration_quantile=quantile,
    )
