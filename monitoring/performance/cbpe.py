"""Label-free performance estimate (confidence-based, after NannyML's CBPE). Pure functions.

With calibrated probabilities p_i, the labels of a window are unknown but their distribution is not: row i
is a positive with probability p_i. So the confusion matrix has an expected value — a predicted positive is
a true positive with probability p_i — and so has the ROC AUC: each row is a positive with weight p_i and a
negative with weight 1 - p_i, and the expected pair count gives the AUC (see `expected_auc`).

Calibration is fitted on the artifact's validation split (`val_scores.parquet`): isotonic by default,
Platt as the alternative. The interval is a predictive one — where the realised metric should land once
labels arrive — from resampling both the validation split (refitting the calibrator) and the window's
labels (drawn from the calibrated p_i). It ASSUMES NO CONCEPT SHIFT: when the relation between features
and churn changes, the model's scores stay confident and the estimate does not follow (docs/labels.md).

    model = fit_cbpe(val["churn_probability"], val["churned"])
    est = estimate_performance(model, window_scores, window_predicted_positive)
    est.auc, (est.auc_low, est.auc_high), est.accuracy
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from monitoring.performance.classification import Confusion, weighted_auc

__all__ = [
    "CBPE",
    "METHODS",
    "Calibrator",
    "Estimate",
    "estimate_performance",
    "expected_auc",
    "expected_confusion",
    "fit_calibrator",
    "fit_cbpe",
]

FloatArray = npt.NDArray[np.float64]
METHODS = ("isotonic", "platt")
_EPS = 1e-6


@dataclass(frozen=True)
class Calibrator:
    """Maps a model score to a calibrated probability: isotonic knots (x, y) or Platt's (a, b)."""

    method: str
    x: FloatArray = field(default_factory=lambda: np.zeros(0))
    y: FloatArray = field(default_factory=lambda: np.zeros(0))
    a: float = 1.0
    b: float = 0.0

    def apply(self, scores: npt.ArrayLike) -> FloatArray:
        s = np.asarray(scores, dtype=np.float64)
        if self.method == "isotonic":
            # Piecewise linear between the knots, flat beyond them (sklearn's out_of_bounds="clip").
            return np.interp(s, self.x, self.y)
        z = self.a * _logit(s) + self.b
        out: FloatArray = 1.0 / (1.0 + np.exp(-z))
        return out


def _logit(p: FloatArray) -> FloatArray:
    q = np.clip(p, _EPS, 1 - _EPS)
    out: FloatArray = np.log(q / (1 - q))
    return out


def fit_calibrator(scores: npt.ArrayLike, labels: npt.ArrayLike, method: str = "isotonic") -> Calibrator:
    """Fit on held-out scores and 0/1 outcomes. Both classes must be present."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if method not in METHODS:
        raise ValueError(f"calibration must be one of {', '.join(METHODS)}, got {method!r}")
    if len(s) != len(y) or len(np.unique(y)) != 2:
        raise ValueError("calibration needs scores and 0/1 labels of the same length, with both classes")
    if method == "isotonic":
        # Imported here: scikit-learn costs seconds to import, and the default (Platt) does not need it.
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(s, y)
        return Calibrator("isotonic", x=np.asarray(iso.X_thresholds_), y=np.asarray(iso.y_thresholds_))
    a, b = _platt_fit(_logit(s), y)
    return Calibrator("platt", a=a, b=b)


def _platt_fit(z: FloatArray, y: FloatArray, *, iterations: int = 50) -> tuple[float, float]:
    """Maximum-likelihood (a, b) of P(y = 1) = sigmoid(a·z + b), by Newton's method.

    Two parameters need no solver library: Newton converges in a handful of steps and is ~1000x faster
    than a general-purpose fit, which matters for the bootstrap refits. A tiny ridge keeps a separable
    sample (all positives above all negatives) from diverging.
    """
    x = np.column_stack([z, np.ones_like(z)])
    w = np.array([1.0, 0.0])
    ridge = 1e-6 * np.eye(2)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (y - p) - ridge @ w
        hess = (x * (p * (1 - p))[:, None]).T @ x + ridge
        step = np.linalg.solve(hess, grad)
        w = w + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return float(w[0]), float(w[1])


@dataclass(frozen=True)
class CBPE:
    """A calibrator fitted on the whole validation split, plus refits on bootstrap resamples of it."""

    calibrator: Calibrator
    replicates: tuple[Calibrator, ...] = ()


def fit_cbpe(
    val_scores: npt.ArrayLike,
    val_labels: npt.ArrayLike,
    *,
    method: str = "isotonic",
    n_boot: int = 200,
    seed: int = 0,
) -> CBPE:
    """Fit the calibrator and `n_boot` bootstrap refits (for the interval's calibration uncertainty)."""
    s = np.asarray(val_scores, dtype=np.float64)
    y = np.asarray(val_labels, dtype=np.float64)
    main = fit_calibrator(s, y, method)
    rng = np.random.default_rng(seed)
    replicates = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(s), size=len(s))
        if len(np.unique(y[idx])) == 2:
            replicates.append(fit_calibrator(s[idx], y[idx], method))
    return CBPE(main, tuple(replicates))


def expected_confusion(p: npt.ArrayLike, predicted: npt.ArrayLike) -> Confusion:
    """The expected confusion matrix when row i is positive with probability p_i.

    A predicted positive adds p_i to TP and 1 - p_i to FP; a predicted negative adds p_i to FN and
    1 - p_i to TN.
    """
    q = np.asarray(p, dtype=np.float64)
    yhat = np.asarray(predicted, dtype=bool)
    return Confusion(
        tp=float(q[yhat].sum()),
        fp=float((1 - q[yhat]).sum()),
        fn=float(q[~yhat].sum()),
        tn=float((1 - q[~yhat]).sum()),
    )


def expected_auc(scores: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Σ_{i≠j} p_i (1 - p_j) [s_i > s_j] / Σ_{i≠j} p_i (1 - p_j), ties counting one half.

    The ratio of the expected number of correctly ordered (positive, negative) pairs to the expected number
    of such pairs — the AUC of the ROC curve whose TPR and FPR are the expected ones.
    """
    q = np.asarray(p, dtype=np.float64)
    return float(weighted_auc(scores, q, 1.0 - q, exclude_self=True))


@dataclass(frozen=True)
class Estimate:
    """Estimated metrics of a window, with predictive intervals for AUC and accuracy. An ESTIMATE."""

    n: int
    auc: float | None
    auc_low: float | None
    auc_high: float | None
    accuracy: float | None
    accuracy_low: float | None
    accuracy_high: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    expected_positive_rate: float | None


def estimate_performance(
    model: CBPE,
    scores: npt.ArrayLike,
    predicted: npt.ArrayLike,
    *,
    level: float = 0.95,
    n_draws: int = 200,
    seed: int = 0,
    chunk: int = 50,
) -> Estimate | None:
    """Estimate AUC, accuracy, precision, recall and F1 of a window from its scores alone.

    `predicted` is the served decision (1 = churn). The interval draws `n_draws` label sets: each uses a
    bootstrap calibrator (cycling through `model.replicates`, or the main one when there are none) and
    0/1 labels drawn from its probabilities, and scores them like realised labels. None for an empty window.
    """
    s = np.asarray(scores, dtype=np.float64)
    yhat = np.asarray(predicted, dtype=bool)
    n = len(s)
    if n == 0:
        return None
    p = model.calibrator.apply(s)
    matrix = expected_confusion(p, yhat)
    point_auc = expected_auc(s, p) if n > 1 else float("nan")
    calibrators = model.replicates or (model.calibrator,)
    rng = np.random.default_rng(seed)
    aucs: list[FloatArray] = []
    accs: list[FloatArray] = []
    for start in range(0, n_draws, chunk):
        size = min(chunk, n_draws - start)
        probs = np.stack([calibrators[(start + k) % len(calibrators)].apply(s) for k in range(size)])
        y = (rng.random((size, n)) < probs).astype(np.float64)
        aucs.append(np.atleast_1d(weighted_auc(s, y, 1.0 - y)))
        accs.append((y == yhat).mean(axis=1))
    auc_draws = np.concatenate(aucs) if aucs else np.zeros(0)
    auc_draws = auc_draws[~np.isnan(auc_draws)]
    acc_draws = np.concatenate(accs) if accs else np.zeros(0)
    tail = (1.0 - level) / 2 * 100
    auc_lo, auc_hi = _interval(auc_draws, tail)
    acc_lo, acc_hi = _interval(acc_draws, tail)
    return Estimate(
        n=n,
        auc=None if np.isnan(point_auc) else point_auc,
        auc_low=auc_lo,
        auc_high=auc_hi,
        accuracy=matrix.accuracy,
        accuracy_low=acc_lo,
        accuracy_high=acc_hi,
        precision=matrix.precision,
        recall=matrix.recall,
        f1=matrix.f1,
        expected_positive_rate=float(p.mean()),
    )


def _interval(draws: FloatArray, tail: float) -> tuple[float | None, float | None]:
    if len(draws) == 0:
        return None, None
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)
