"""AUC, confusion metrics and the bootstrap interval against sklearn and hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from monitoring.performance.classification import (
    Confusion,
    auc,
    bootstrap_auc_interval,
    confusion,
    weighted_auc,
)


def test_auc_by_hand():
    # Positives 0.9 and 0.3; negatives 0.8 and 0.1. Pairs: (0.9>0.8) (0.9>0.1) (0.3<0.8) (0.3>0.1) = 3/4.
    assert auc([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0]) == pytest.approx(0.75)
    # A tie between a positive and a negative counts one half.
    assert auc([0.5, 0.5], [1, 0]) == pytest.approx(0.5)
    assert np.isnan(auc([0.1, 0.2], [1, 1]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_matches_sklearn_with_ties_and_weights(seed):
    rng = np.random.default_rng(seed)
    scores = np.round(rng.random(500), 2)  # many ties
    y = (rng.random(500) < scores).astype(int)
    w = rng.integers(0, 4, 500).astype(float)
    assert auc(scores, y) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    assert float(weighted_auc(scores, w * y, w * (1 - y))) == pytest.approx(
        roc_auc_score(y, scores, sample_weight=w), abs=1e-12
    )


def test_batched_weights_equal_one_at_a_time():
    rng = np.random.default_rng(5)
    scores = rng.random(200)
    y = (rng.random(200) < 0.3).astype(float)
    weights = rng.integers(0, 3, size=(7, 200)).astype(float)
    batched = weighted_auc(scores, weights * y, weights * (1 - y))
    single = [float(weighted_auc(scores, w * y, w * (1 - y))) for w in weights]
    np.testing.assert_allclose(batched, single)


def test_confusion_metrics_match_sklearn():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    yhat = rng.integers(0, 2, 300)
    m = confusion(y, yhat)
    assert m.n == 300
    assert m.precision == pytest.approx(precision_score(y, yhat))
    assert m.recall == pytest.approx(recall_score(y, yhat))
    assert m.f1 == pytest.approx(f1_score(y, yhat))
    assert m.accuracy == pytest.approx(np.mean(y == yhat))


def test_undefined_ratios_are_none():
    nothing_predicted = Confusion(tp=0, fp=0, fn=3, tn=5)
    assert nothing_predicted.precision is None and nothing_predicted.recall == 0.0
    assert Confusion(0, 0, 0, 0).accuracy is None and Confusion(0, 0, 0, 4).f1 is None


def test_bootstrap_interval_brackets_the_auc_and_narrows_with_data():
    rng = np.random.default_rng(7)

    def sample(n):
        s = rng.random(n)
        return s, (rng.random(n) < s).astype(int)

    s_small, y_small = sample(200)
    s_big, y_big = sample(5000)
    lo_s, hi_s = bootstrap_auc_interval(s_small, y_small, n_boot=300, seed=1)
    lo_b, hi_b = bootstrap_auc_interval(s_big, y_big, n_boot=300, seed=1)
    assert lo_s < auc(s_small, y_small) < hi_s
    assert lo_b < auc(s_big, y_big) < hi_b
    assert (hi_b - lo_b) < (hi_s - lo_s) / 3  # ~sqrt(25) narrower
    assert bootstrap_auc_interval(s_big, y_big, n_boot=300, seed=1) == (lo_b, hi_b)  # seeded


def test_cluster_bootstrap_is_wider_when_rows_repeat_a_customer():
    # 300 customers each scored 10 times with the same outcome: 3000 rows but only 300 independent units.
    rng = np.random.default_rng(11)
    s = rng.random(300)
    y = (rng.random(300) < s).astype(int)
    scores = np.repeat(s, 10) + rng.normal(0, 0.01, 3000)
    labels = np.repeat(y, 10)
    customers = np.repeat(np.arange(300), 10)
    lo_r, hi_r = bootstrap_auc_interval(scores, labels, n_boot=300, seed=2)
    lo_c, hi_c = bootstrap_auc_interval(scores, labels, customers, n_boot=300, seed=2)
    assert (hi_c - lo_c) > 2 * (hi_r - lo_r)


def test_bootstrap_needs_something_to_resample():
    assert bootstrap_auc_interval([], [], n_boot=10) is None
    assert bootstrap_auc_interval([0.1, 0.2], [1, 0], n_boot=0) is None
