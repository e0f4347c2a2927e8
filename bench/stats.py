"""Percentiles and ratios for the figures the sections print.

`percentile` interpolates linearly between the closest ranks, the same definition as numpy's default
(`method="linear"`), so figures computed here and in a notebook agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["percentile", "ratio"]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0 ≤ q ≤ 100) of `values`; NaN when there are none."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q must be within [0, 100], got {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN instead of an exception when the baseline is 0 or missing."""
    if denominator == 0 or math.isnan(denominator) or math.isnan(numerator):
        return math.nan
    return numerator / denominator
