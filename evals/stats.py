"""The significance tests behind the regression verdicts: pure functions, no I/O.

- `mcnemar_p(b, c)`: McNemar's exact conditional test (and its mid-p) for paired pass/fail outcomes,
  the binomial test of `scipy.stats.binomtest` — b = pairs that passed in the baseline and fail now, c =
  the reverse.
- `paired_bootstrap(diffs)`: a seeded bootstrap over paired per-item score differences (now − baseline):
  the mean difference, a 95% percentile interval, and a one-sided p-value for "now is worse".
- `mann_whitney_less(x, y)`: the one-sided Mann–Whitney U test (`scipy.stats.mannwhitneyu`, normal
  approximation with tie and continuity corrections) that judged production samples use, where nothing
  is paired.

The bootstrap stays here: its p-value (a re-centred bootstrap distribution) is not what
`scipy.stats.bootstrap` computes.

    >>> round(mcnemar_p(1, 7), 4), round(mcnemar_p(1, 7, mid_p=True), 4)
    (0.0703, 0.0391)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.stats

__all__ = ["BootstrapResult", "mann_whitney_less", "mcnemar_p", "paired_bootstrap"]


def mcnemar_p(
    b: int, c: int, *, alternative: Literal["two-sided", "greater"] = "two-sided", mid_p: bool = False
) -> float:
    """McNemar's exact test on the discordant pair counts.

    Under H0 each discordant pair is equally likely to go either way, so b ~ Binomial(b + c, 1/2).
    `alternative="greater"` is the one-sided test of H1: b > c (more pairs got worse than better).
    The mid-p variant counts half the probability of the observed value; it is less conservative and its
    size stays closer to the nominal level (Fagerland, Lydersen & Laake, BMC Med Res Methodol 2013).
    """
    if b < 0 or c < 0:
        raise ValueError("b and c must be >= 0")
    n = b + c
    if n == 0:
        return 1.0
    if not mid_p:
        return float(scipy.stats.binomtest(b, n, 0.5, alternative=alternative).pvalue)
    # mid-p: the exact tail minus half the probability of the observed count.
    point = float(scipy.stats.binom.pmf(b, n, 0.5))
    upper = float(scipy.stats.binom.sf(b - 1, n, 0.5))  # P(X >= b)
    if alternative == "greater":
        return upper - point / 2
    lower = float(scipy.stats.binom.cdf(b, n, 0.5))  # P(X <= b)
    return min(2 * (min(lower, upper) - point / 2), 1.0)


@dataclass(frozen=True)
class BootstrapResult:
    """Mean paired difference (now − baseline), its 95% percentile interval, one-sided p for a drop."""

    mean: float
    ci_low: float
    ci_high: float
    p_drop: float


def paired_bootstrap(diffs: Sequence[float], *, samples: int = 2000, seed: int = 0) -> BootstrapResult:
    """Bootstrap the mean of per-item differences, resampling items with replacement.

    The p-value tests H0: mean difference >= 0 against H1: < 0 by re-centring the bootstrap distribution
    on zero (the null) and asking how often a resampled mean is at least as low as the observed one;
    `(hits + 1) / (samples + 1)` keeps it away from an impossible 0.
    """
    d = np.asarray(diffs, dtype=float)
    if d.size == 0:
        return BootstrapResult(0.0, 0.0, 0.0, 1.0)
    observed = float(d.mean())
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, d.size, size=(samples, d.size))
    means = d[idx].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    if np.allclose(d, d[0]):
        # No spread: the data cannot show a difference from their own mean.
        return BootstrapResult(observed, float(lo), float(hi), 1.0 if observed >= 0 else 0.0)
    hits = int(np.count_nonzero(means - observed <= observed))
    return BootstrapResult(observed, float(lo), float(hi), (hits + 1) / (samples + 1))


def mann_whitney_less(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """(U of x, one-sided p) for H1: x tends to be smaller than y: `scipy.stats.mannwhitneyu(x, y,
    alternative="less", method="asymptotic")`, tie-corrected, with continuity correction."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.size == 0 or ya.size == 0:
        return 0.0, 1.0
    if np.unique(np.concatenate([xa, ya])).size == 1:
        # Every value tied: no evidence either way (scipy's z would divide by zero).
        return xa.size * ya.size / 2, 1.0
    result = scipy.stats.mannwhitneyu(xa, ya, alternative="less", method="asymptotic", use_continuity=True)
    return float(result.statistic), float(result.pvalue)
