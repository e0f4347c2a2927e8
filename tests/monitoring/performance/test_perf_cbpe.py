"""The label-free estimate on textbook cases: expected confusion matrix and expected AUC by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from monitoring.performance.cbpe import (
    CBPE,
    Calibrator,
    estimate_performance,
    expected_auc,
    expected_confusion,
    fit_calibrator,
    fit_cbpe,
)
from monitoring.performance.classification import auc, weighted_auc

IDENTITY = CBPE(Calibrator("isotonic", x=np.array([0.0, 1.0]), y=np.array([0.0, 1.0])))


def test_expected_confusion_by_hand():
    p = [0.9, 0.6, 0.2, 0.1]
    predicted = [1, 1, 0, 0]
    m = expected_confusion(p, predicted)
    # TP = 0.9 + 0.6, FP = 0.1 + 0.4, FN = 0.2 + 0.1, TN = 0.8 + 0.9
    assert (m.tp, m.fp, m.fn, m.tn) == pytest.approx((1.5, 0.5, 0.3, 1.7))
    assert m.accuracy == pytest.approx(3.2 / 4)
    assert m.precision == pytest.approx(1.5 / 2.0)
    assert m.recall == pytest.approx(1.5 / 1.8)
    assert m.f1 == pytest.approx(3.0 / (3.0 + 0.5 + 0.3))


def test_expected_auc_by_hand():
    s = np.array([0.8, 0.6, 0.3])
    p = np.array([0.8, 0.5, 0.25])
    # Σ_{i≠j} p_i (1 - p_j) [s_i > s_j] over Σ_{i≠j} p_i (1 - p_j):
    num = 0.8 * 0.5 + 0.8 * 0.75 + 0.5 * 0.75
    den = num + 0.5 * 0.2 + 0.25 * 0.2 + 0.25 * 0.5
    assert expected_auc(s, p) == pytest.approx(num / den)
    brute_num = sum(p[i] * (1 - p[j]) for i, j in itertools.permutations(range(3), 2) if s[i] > s[j])
    brute_den = sum(p[i] * (1 - p[j]) for i, j in itertools.permutations(range(3), 2))
    assert expected_auc(s, p) == pytest.approx(brute_num / brute_den)


def test_expected_auc_is_the_auc_when_probabilities_are_certain():
    s = [0.9, 0.7, 0.4, 0.2]
    y = [1, 0, 1, 0]
    assert expected_auc(s, y) == pytest.approx(auc(s, y))


def test_expected_auc_equals_the_mean_realised_auc_over_many_draws():
    rng = np.random.default_rng(0)
    s = rng.random(400)
    p = s  # calibrated by construction
    draws = (rng.random((4000, 400)) < p).astype(float)
    realised = np.mean(weighted_auc(s, draws, 1.0 - draws))
    assert expected_auc(s, p) == pytest.approx(realised, abs=0.002)


def test_calibrators_learn_a_known_miscalibration():
    rng = np.random.default_rng(1)
    true_p = rng.uniform(0.02, 0.98, 20_000)
    y = (rng.random(20_000) < true_p).astype(int)
    # The model is overconfident: its logit is twice the true one.
    z = np.log(true_p / (1 - true_p))
    scores = 1 / (1 + np.exp(-2 * z))
    for method in ("platt", "isotonic"):
        cal = fit_calibrator(scores, y, method)
        assert np.mean(np.abs(cal.apply(scores) - true_p)) < 0.03, method
    platt = fit_calibrator(scores, y, "platt")
    assert platt.a == pytest.approx(0.5, abs=0.05)
    sk = LogisticRegression(C=1e9).fit(np.log(scores / (1 - scores)).reshape(-1, 1), y)
    assert (platt.a, platt.b) == pytest.approx((sk.coef_[0, 0], sk.intercept_[0]), abs=1e-3)


def test_calibration_input_is_checked():
    with pytest.raises(ValueError, match="both classes"):
        fit_calibrator([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="calibration must be one of"):
        fit_calibrator([0.1, 0.2], [0, 1], "beta")


def test_estimate_with_interval_and_reproducibility():
    rng = np.random.default_rng(2)
    val_s = rng.random(3000)
    val_y = (rng.random(3000) < val_s).astype(int)
    model = fit_cbpe(val_s, val_y, method="platt", n_boot=50, seed=0)
    assert len(model.replicates) == 50
    s = rng.random(2000)
    predicted = s >= 0.5
    est = estimate_performance(model, s, predicted, n_draws=100, seed=3)
    assert est is not None and est.n == 2000
    assert est.auc_low < est.auc < est.auc_high
    assert est.accuracy_low < est.accuracy < est.accuracy_high
    # Scores are calibrated, so the expected metrics are those of p = s: AUC 5/6 for uniform s, accuracy 3/4.
    assert est.auc == pytest.approx(5 / 6, abs=0.02)
    assert est.accuracy == pytest.approx(0.75, abs=0.02)
    assert estimate_performance(model, s, predicted, n_draws=100, seed=3) == est
    assert estimate_performance(model, [], [], n_draws=10) is None


def test_identity_calibrator_interval_is_label_sampling_only():
    s = np.linspace(0.01, 0.99, 1000)
    est = estimate_performance(IDENTITY, s, s >= 0.5, n_draws=200, seed=1)
    assert est is not None
    assert est.auc == pytest.approx(expected_auc(s, s))
    # Sampling sd of an AUC on 1000 rows is ~0.013: a 95% interval of ~0.05 width.
    assert 0.02 < est.auc_high - est.auc_low < 0.09
