"""Classification metrics as pure numpy: a weighted ROC AUC, confusion-matrix metrics, bootstrap intervals.

One AUC routine serves three callers: the realised AUC (weights are the 0/1 labels), the label-free
estimate (each row is positive with weight p and negative with weight 1 - p), and the bootstrap (weights
are how often a resample drew each row). It takes a 2-D weight matrix to score many resamples at once.

    >>> round(float(auc(np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 0, 1, 0]))), 2)
    0.75
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "Confusion",
    "auc",
    "bootstrap_auc_interval",
    "confusion",
    "weighted_auc",
]

FloatArray = npt.NDArray[np.float64]


def weighted_auc(
    scores: npt.ArrayLike, pos_weight: npt.ArrayLike, neg_weight: npt.ArrayLike, *, exclude_self: bool = False
) -> FloatArray:
    """P(score of a positive > score of a negative), ties counting one half, over weighted pairs.

    Row i is a positive with weight `pos_weight[..., i]` and a negative with weight `neg_weight[..., i]`;
    weights may be 2-D (one row per resample), scores are 1-D. `exclude_self` drops the pairing of a row
    with itself, which matters when one row carries both weights (the label-free estimate). Returns an
    array with the weights' leading shape (a 0-d array for 1-D weights); NaN where a class has no weight.
    """
    s = np.asarray(scores, dtype=np.float64)
    pos = np.asarray(pos_weight, dtype=np.float64)
    neg = np.asarray(neg_weight, dtype=np.float64)
    order = np.argsort(s, kind="mergesort")
    s_sorted = s[order]
    pos_s, neg_s = pos[..., order], neg[..., order]
    # Groups of tied scores: a pair inside a group counts one half.
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]]) if len(s) else np.array([], int)
    if len(starts) == 0:
        return np.full(pos.shape[:-1], np.nan)
    pos_g = np.add.reduceat(pos_s, starts, axis=-1)
    neg_g = np.add.reduceat(neg_s, starts, axis=-1)
    neg_below = np.cumsum(neg_g, axis=-1) - neg_g
    numerator = np.sum(pos_g * (neg_below + 0.5 * neg_g), axis=-1)
    denominator = pos.sum(axis=-1) * neg.sum(axis=-1)
    if exclude_self:
        self_pairs = np.sum(pos * neg, axis=-1)
        numerator = numerator - 0.5 * self_pairs
        denominator = denominator - self_pairs
    with np.errstate(invalid="ignore", divide="ignore"):
        result: FloatArray = np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )
    return result


def auc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """ROC AUC of 0/1 labels (the Mann-Whitney form, equal to sklearn's); NaN when one class is absent."""
    y = np.asarray(labels, dtype=np.float64)
    return float(weighted_auc(scores, y, 1.0 - y))


@dataclass(frozen=True)
class Confusion:
    """A confusion matrix; counts may be fractional (an expected matrix)."""

    tp: float
    fp: float
    fn: float
    tn: float

    @property
    def n(self) -> float:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def accuracy(self) -> float | None:
        return (self.tp + self.tn) / self.n if self.n > 0 else None

    @property
    def precision(self) -> float | None:
        predicted = self.tp + self.fp
        return self.tp / predicted if predicted > 0 else None

    @property
    def recall(self) -> float | None:
        actual = self.tp + self.fn
        return self.tp / actual if actual > 0 else None

    @property
    def f1(self) -> float | None:
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator > 0 else None


def confusion(labels: npt.ArrayLike, predicted: npt.ArrayLike) -> Confusion:
    """The confusion matrix of 0/1 labels against 0/1 predictions."""
    y = np.asarray(labels, dtype=bool)
    yhat = np.asarray(predicted, dtype=bool)
    return Confusion(
        tp=float(np.sum(y & yhat)),
        fp=float(np.sum(~y & yhat)),
        fn=float(np.sum(y & ~yhat)),
        tn=float(np.sum(~y & ~yhat)),
    )


def bootstrap_auc_interval(
    scores: npt.ArrayLike,
    labels: npt.ArrayLike,
    clusters: npt.ArrayLike | None = None,
    *,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    chunk: int = 50,
) -> tuple[float, float] | None:
    """A percentile bootstrap interval for the AUC, resampling whole clusters (customers) when given.

    Several predictions of one customer share one outcome, so they are not independent: resampling
    customers, not rows, keeps the interval from being too narrow. None when there is nothing to resample.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if n_boot < 1 or len(s) == 0:
        return None
    codes = (
        np.unique(np.asarray(clusters), return_inverse=True)[1] if clusters is not None else np.arange(len(s))
    )
    n_clusters = int(codes.max()) + 1
    rng = np.random.default_rng(seed)
    values: list[FloatArray] = []
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        draws = rng.integers(0, n_clusters, size=(size, n_clusters))
        counts = np.stack([np.bincount(row, minlength=n_clusters) for row in draws]).astype(np.float64)
        weights = counts[:, codes]
        values.append(np.atleast_1d(weighted_auc(s, weights * y, weights * (1.0 - y))))
    replicates = np.concatenate(values)
    replicates = replicates[~np.isnan(replicates)]
    if len(replicates) == 0:
        return None
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return float(low), float(high)
