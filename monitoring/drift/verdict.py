"""The drift verdict from per-column results: pure functions, no Evidently, no I/O.

Evidently decides, per column, whether the distribution moved (its method, score and threshold). Our gate
is the SHARE of drifted columns, compared with `monitoring.drift.share_gate` (default 0.3, a `drift`
verdict and exit 1) and `retrain_gate` (default 0.6, `retrain_candidate: true`). Evidently's own
dataset-level flag uses 0.5 and is reported only for reference.

    cols = [ColumnDrift("tenure_months", "wasserstein", "Wasserstein distance (normed)", 0.7, 0.1, True)]
    v = decide(cols, Gates(share_gate=0.3, retrain_gate=0.6))
    v.verdict, v.retrain_candidate, exit_code(v)      # ('drift', True, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ColumnDrift", "Gates", "Verdict", "columns_json", "decide", "exit_code"]


@dataclass(frozen=True)
class ColumnDrift:
    """One column's result. `method` is Evidently's stattest id (what config pins), `method_name` its label.

    `drifted` is Evidently's own decision: a distance at or above the threshold, or a p-value below it.
    """

    column: str
    method: str
    method_name: str
    score: float
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class Gates:
    """Shares of drifted columns at which the verdict becomes `drift`, and a retrain is suggested."""

    share_gate: float = 0.3
    retrain_gate: float = 0.6

    def __post_init__(self) -> None:
        for name in ("share_gate", "retrain_gate"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value}")


@dataclass(frozen=True)
class Verdict:
    n_columns: int
    n_drifted: int
    share_drifted: float
    drift: bool
    retrain_candidate: bool

    @property
    def verdict(self) -> str:
        return "drift" if self.drift else "no_drift"

    def as_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "share_drifted": self.share_drifted,
            "n_drifted": self.n_drifted,
            "n_columns": self.n_columns,
            "retrain_candidate": self.retrain_candidate,
        }


def decide(columns: Sequence[ColumnDrift], gates: Gates) -> Verdict:
    """The share of drifted columns against the gates; a share AT a gate trips it.

    With one column (prediction drift) the share is 0 or 1, so the verdict is that column's.
    """
    if not columns:
        raise ValueError("no column results to decide on")
    n_drifted = sum(1 for c in columns if c.drifted)
    share = n_drifted / len(columns)
    return Verdict(
        n_columns=len(columns),
        n_drifted=n_drifted,
        share_drifted=share,
        drift=share >= gates.share_gate,
        retrain_candidate=share >= gates.retrain_gate,
    )


def exit_code(verdict: Verdict) -> int:
    """0 healthy, 1 drift found."""
    return 1 if verdict.drift else 0


def columns_json(columns: Sequence[ColumnDrift]) -> dict[str, dict[str, Any]]:
    """`columns.<name>.{drifted, method, method_name, score, threshold}` for the JSON summary."""
    return {
        c.column: {
            "drifted": c.drifted,
            "method": c.method,
            "method_name": c.method_name,
            "score": c.score,
            "threshold": c.threshold,
        }
        for c in columns
    }
