"""The significance tests behind the regression verdicts: pure functions, no I/O.

- `mcnemar_p(b, c)`: McNemar's exact conditional test (and its mid-p) for paired pass/fail outcomes,
  computed exactly with `math.comb` — b = pairs that passed in the baseline and fail now, c = the reverse.
- `paired_bootstrap(diffs)`: a seeded bootstrap over paired per-item score differences (now − baseline):
  the mean difference, a 95% percentile interval, and a one-sided p-value for "now is worse".
- `mann_whitney_less(x, y)`: the one-sided Mann–Whitney U test (normal approximation with tie and
  continuity corrections) that judged production samples use, where nothing is paired.

    >>> round(mcnemar_p(1, 7), 4), round(mcnemar_p(1, 7, mid_p=True), 4)
    (0.0703, 0.0391)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import numpy as np

__all__ = ["BootstrapResult", "mann_whitney_less", "mcnemar_p", "paired_bootstrap"]


def _binom_half_tail(n: int, k_from: int, k_to: int) -> Fraction:
    """P(k_from <= X <= k_to) for X ~ Binomial(n, 1/2), exactly."""
    k_from, k_to = max(k_from, 0), min(k_to, n)
    if k_from > k_to:
        return Fraction(0)
    return Fraction(sum(math.comb(n, k) for k in range(k_from, k_to + 1)), 2**n)


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
    point = _binom_half_tail(n, b, b)
    upper = _binom_half_tail(n, b, n)  # P(X >= b)
    if alternative == "greater":
        p = upper - point / 2 if mid_p else upper
        return float(p)
    lower = _binom_half_tail(n, 0, b)  # P(X <= b)
    tail = min(lower, upper)
    p = 2 * (tail - point / 2) if mid_p else 2 * tail
    return float(min(p, Fraction(1)))


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


def _midranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size, dtype=float)
    sorted_values = values[order]
    i = 0
    while i < values.size:
        j = i
        while j + 1 < values.size and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def mann_whitney_less(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """(U of x, one-sided p) for H1: x tends to be smaller than y. Normal approximation, tie-corrected,
    with continuity correction (the same as `scipy.stats.mannwhitneyu(x, y, alternative="less",
    method="asymptotic")`)."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n1, n2 = xa.size, ya.size
    if n1 == 0 or n2 == 0:
        return 0.0, 1.0
    ranks = _midranks(np.concatenate([xa, ya]))
    u1 = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2)
    n = n1 + n2
    _, counts = np.unique(np.concatenate([xa, ya]), return_counts=True)
    ties = float(((counts**3) - counts).sum())
    var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return u1, 1.0
    mu = n1 * n2 / 2
    z = (mu - u1 - 0.5) / math.sqrt(var)
    return u1, 0.5 * math.erfc(z / math.sqrt(2))
