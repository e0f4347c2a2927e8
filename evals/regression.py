"""The regression verdict: this run against its trailing baseline (the previous K runs). Pure functions.

Paired (eval suites). Items are paired by id and content hash, so an edited item is never compared with
answers to its old text. Each item's baseline is its *pass rate* over the K baseline runs (not a majority
vote: a majority of K noisy runs is cleaner than one noisy run, and comparing a single current run with it
reads ordinary noise as a drop — see docs/evals.md for the measured false-alarm rates). McNemar's counts
are then the discordance averaged over the baseline runs,

    b = Σ p̄ᵢ·(1 − xᵢ)   (passed before, fails now)      c = Σ (1 − p̄ᵢ)·xᵢ   (the reverse)

rounded to integers for the one-sided exact mid-p test. Averaging over K runs makes the test a little
conservative (the baseline side has less variance than McNemar assumes). When any score is graded (the
judge), a paired bootstrap on score differences is a second gate. Either gate fires only when BOTH the
effect (a drop of at least `min_effect`) and the significance (`p <= alpha`) clear their bars.

Unpaired (judged production samples): a one-sided Mann–Whitney U test of this window's scores against the
pooled scores of the previous K windows, with the same effect bar on the mean score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from evals.stats import mann_whitney_less, mcnemar_p, paired_bootstrap

__all__ = [
    "Comparison",
    "ItemOutcome",
    "RegressionConfig",
    "UnpairedComparison",
    "Verdict",
    "compare_paired",
    "compare_unpaired",
    "parse_baseline_spec",
]


class Verdict(StrEnum):
    OK = "ok"
    REGRESSED = "regressed"
    NO_BASELINE = "no_baseline"


@dataclass(frozen=True)
class RegressionConfig:
    """The bars a drop must clear: significance `alpha` and the smallest drop worth a ticket."""

    alpha: float = 0.01
    min_effect: float = 0.03
    bootstrap_samples: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError("regression alpha must be between 0 and 1")
        if not 0 <= self.min_effect <= 1:
            raise ValueError("regression min_effect must be between 0 and 1")
        if self.bootstrap_samples < 100:
            raise ValueError("regression bootstrap_samples must be at least 100")


@dataclass(frozen=True)
class ItemOutcome:
    """What one run made of one item: passed or not, and its score in [0, 1]. Errors are left out."""

    passed: bool
    score: float


@dataclass(frozen=True)
class Comparison:
    verdict: Verdict
    n_paired: int
    n_baseline_runs: int
    baseline_pass_rate: float
    current_pass_rate: float
    pass_drop: float
    b: float
    c: float
    mcnemar_p: float
    graded: bool
    score_drop: float
    score_ci: tuple[float, float]
    bootstrap_p: float | None
    reasons: tuple[str, ...]
    baseline_rate_by_item: dict[str, float] = field(default_factory=dict)


def parse_baseline_spec(spec: str) -> int:
    """`trailing:K` → K. Raises ValueError."""
    kind, _, count = spec.partition(":")
    if kind != "trailing" or not count.isdigit() or int(count) < 1:
        raise ValueError(f"baseline must look like trailing:K with K >= 1, got {spec!r}")
    return int(count)


def compare_paired(
    current: Mapping[str, ItemOutcome],
    baselines: Sequence[Mapping[str, ItemOutcome]],
    cfg: RegressionConfig,
    *,
    min_runs: int = 1,
) -> Comparison:
    """Compare the current run with the baseline runs, item by item (keys are item id + content hash).

    With fewer than `min_runs` baseline runs the numbers are computed but the verdict is NO_BASELINE: the
    false-alarm rates in docs/evals.md hold for a full trailing window (one run instead of three fires
    about six times as often).
    """
    rates: dict[str, float] = {}
    base_scores: dict[str, float] = {}
    graded = False  # any score strictly between 0 and 1, now or in the baseline
    for key, now in current.items():
        seen = [run[key] for run in baselines if key in run]
        if not seen:
            continue
        rates[key] = sum(o.passed for o in seen) / len(seen)
        base_scores[key] = sum(o.score for o in seen) / len(seen)
        graded = graded or any(0.0 < o.score < 1.0 for o in (now, *seen))
    keys = sorted(rates)
    n = len(keys)
    if not baselines or n == 0:
        return _empty(len(baselines), current)
    x = np.array([current[k].passed for k in keys], dtype=float)
    p = np.array([rates[k] for k in keys])
    b, c = float((p * (1 - x)).sum()), float(((1 - p) * x).sum())
    p_mcnemar = mcnemar_p(round(b), round(c), alternative="greater", mid_p=True)
    pass_drop = float(p.mean() - x.mean())
    reasons: list[str] = []
    if pass_drop >= cfg.min_effect and p_mcnemar <= cfg.alpha:
        reasons.append(f"pass rate fell {pass_drop:.1%} (McNemar mid-p {p_mcnemar:.2g})")

    now_scores = np.array([current[k].score for k in keys])
    then_scores = np.array([base_scores[k] for k in keys])
    score_drop, ci, p_boot = float(then_scores.mean() - now_scores.mean()), (0.0, 0.0), None
    if graded:
        boot = paired_bootstrap(now_scores - then_scores, samples=cfg.bootstrap_samples, seed=cfg.seed)
        score_drop, ci, p_boot = -boot.mean, (boot.ci_low, boot.ci_high), boot.p_drop
        if score_drop >= cfg.min_effect and p_boot <= cfg.alpha:
            reasons.append(f"mean score fell {score_drop:.3f} (bootstrap p {p_boot:.2g})")
    return Comparison(
        verdict=Verdict.NO_BASELINE
        if len(baselines) < min_runs
        else Verdict.REGRESSED
        if reasons
        else Verdict.OK,
        n_paired=n,
        n_baseline_runs=len(baselines),
        baseline_pass_rate=float(p.mean()),
        current_pass_rate=float(x.mean()),
        pass_drop=pass_drop,
        b=b,
        c=c,
        mcnemar_p=p_mcnemar,
        graded=graded,
        score_drop=score_drop,
        score_ci=ci,
        bootstrap_p=p_boot,
        reasons=tuple(reasons),
        baseline_rate_by_item=rates,
    )


def _empty(n_runs: int, current: Mapping[str, ItemOutcome]) -> Comparison:
    rate = sum(o.passed for o in current.values()) / len(current) if current else 0.0
    return Comparison(
        verdict=Verdict.NO_BASELINE,
        n_paired=0,
        n_baseline_runs=n_runs,
        baseline_pass_rate=float("nan"),
        current_pass_rate=rate,
        pass_drop=0.0,
        b=0.0,
        c=0.0,
        mcnemar_p=1.0,
        graded=False,
        score_drop=0.0,
        score_ci=(0.0, 0.0),
        bootstrap_p=None,
        reasons=(),
    )


@dataclass(frozen=True)
class UnpairedComparison:
    verdict: Verdict
    n_current: int
    n_baseline: int
    n_baseline_runs: int
    current_mean: float
    baseline_mean: float
    score_drop: float
    mann_whitney_p: float
    reasons: tuple[str, ...]


def compare_unpaired(
    current: Sequence[float],
    baselines: Sequence[Sequence[float]],
    cfg: RegressionConfig,
    *,
    min_runs: int = 1,
) -> UnpairedComparison:
    """This window's judged scores against the pooled scores of the previous windows (at least `min_runs`
    of them for a verdict, as in `compare_paired`)."""
    pooled = [s for run in baselines for s in run]
    cur_mean = float(np.mean(current)) if current else float("nan")
    if not current or not pooled:
        return UnpairedComparison(
            Verdict.NO_BASELINE,
            len(current),
            len(pooled),
            len(baselines),
            cur_mean,
            float("nan"),
            0.0,
            1.0,
            (),
        )
    base_mean = float(np.mean(pooled))
    _, p = mann_whitney_less(current, pooled)
    drop = base_mean - cur_mean
    reasons: tuple[str, ...] = ()
    if drop >= cfg.min_effect and p <= cfg.alpha:
        reasons = (f"mean judged score fell {drop:.3f} (Mann–Whitney p {p:.2g})",)
    return UnpairedComparison(
        Verdict.NO_BASELINE if len(baselines) < min_runs else Verdict.REGRESSED if reasons else Verdict.OK,
        len(current),
        len(pooled),
        len(baselines),
        cur_mean,
        base_mean,
        drop,
        p,
        reasons,
    )
