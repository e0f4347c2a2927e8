"""`monitoring.performance` in modelgate.yaml, validated.

monitoring:
  performance:
    days: 90              # how far back the report looks
    window: weekly        # daily | weekly (ISO weeks, UTC)
    auc_drop: 0.05        # gate: realised AUC below validation_auc - auc_drop → exit 1
    min_labels: 200       # a window needs this many labelled predictions to be gated
    calibration: platt    # platt | isotonic: the label-free estimate's calibrator
    bootstrap: 200        # resamples for the realised AUC's interval and the estimate's interval
    seed: 0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitoring.performance.cbpe import METHODS
from monitoring.performance.evaluate import WINDOWS

__all__ = ["PerformanceSettings", "PerformanceSettingsError", "performance_settings"]


class PerformanceSettingsError(Exception):
    """`monitoring.performance` holds an unknown key or a bad value. One-line message."""


@dataclass(frozen=True)
class PerformanceSettings:
    days: int = 90
    window: str = "weekly"
    auc_drop: float = 0.05
    min_labels: int = 1000
    max_pending_share: float = 0.2
    calibration: str = "platt"
    bootstrap: int = 200
    seed: int = 0


def _int(section: dict[str, Any], key: str, default: int, low: int) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise PerformanceSettingsError(f"monitoring.performance.{key} must be a whole number >= {low}")
    return value


def performance_settings(section: dict[str, Any]) -> PerformanceSettings:
    """Validate the section; absent keys take the defaults above."""
    unknown = sorted(set(section) - set(PerformanceSettings.__dataclass_fields__))
    if unknown:
        raise PerformanceSettingsError(f"monitoring.performance: unknown key(s) {', '.join(unknown)}")
    drop = section.get("auc_drop", 0.05)
    if isinstance(drop, bool) or not isinstance(drop, (int, float)) or not 0 <= drop < 1:
        raise PerformanceSettingsError("monitoring.performance.auc_drop must be a number in [0, 1)")
    pending = section.get("max_pending_share", 0.2)
    if isinstance(pending, bool) or not isinstance(pending, (int, float)) or not 0 <= pending <= 1:
        raise PerformanceSettingsError("monitoring.performance.max_pending_share must be a number in [0, 1]")
    window = section.get("window", "weekly")
    if window not in WINDOWS:
        raise PerformanceSettingsError(f"monitoring.performance.window must be one of {', '.join(WINDOWS)}")
    calibration = section.get("calibration", "platt")
    if calibration not in METHODS:
        raise PerformanceSettingsError(
            f"monitoring.performance.calibration must be one of {', '.join(METHODS)}"
        )
    return PerformanceSettings(
        days=_int(section, "days", 90, 1),
        window=window,
        auc_drop=float(drop),
        min_labels=_int(section, "min_labels", 1000, 1),
        max_pending_share=float(pending),
        calibration=calibration,
        bootstrap=_int(section, "bootstrap", 200, 0),
        seed=_int(section, "seed", 0, 0),
    )
