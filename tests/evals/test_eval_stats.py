"""The paired and unpaired tests against textbook values and scipy."""

import math

import numpy as np
import pytest
from scipy import stats

from evals.stats import mann_whitney_less, mcnemar_p, paired_bootstrap


def test_mcnemar_against_fagerland_2013_worked_example():
    # Fagerland, Lydersen & Laake, BMC Med Res Methodol 13:91 (2013), Table 1 (Bentur et al. airway
    # hyper-responsiveness before/after stem-cell transplantation): discordant pairs 1 and 7.
    # Reported: exact conditional p = 0.070, mid-p = 0.039.
    assert mcnemar_p(1, 7) == pytest.approx(0.0703, abs=5e-5)
    assert mcnemar_p(1, 7, mid_p=True) == pytest.approx(0.0391, abs=5e-5)
    # Exactly: 2·(C(8,0)+C(8,1))/2^8 = 18/256 and 2·(1 + 8/2)/256 = 10/256 (to float rounding: scipy's
    # binomial tails are floating point).
    assert mcnemar_p(1, 7) == pytest.approx(18 / 256, rel=1e-12)
    assert mcnemar_p(1, 7, mid_p=True) == pytest.approx(10 / 256, rel=1e-12)


def test_mcnemar_is_symmetric_and_bounded():
    assert mcnemar_p(7, 1) == mcnemar_p(1, 7)
    assert mcnemar_p(5, 5) == 1.0
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(5, 5, mid_p=True) == 1.0  # the mid-p of the centre is exactly 1
    assert mcnemar_p(4, 6, mid_p=True) < mcnemar_p(4, 6)


@pytest.mark.parametrize(("b", "c"), [(0, 5), (3, 9), (12, 4), (30, 18), (150, 86), (2, 2), (40, 0)])
def test_mcnemar_exact_matches_scipy_binomial_test(b, c):
    n = b + c
    assert mcnemar_p(b, c) == pytest.approx(stats.binomtest(b, n, 0.5).pvalue, rel=1e-12)
    assert mcnemar_p(b, c, alternative="greater") == pytest.approx(
        stats.binomtest(b, n, 0.5, alternative="greater").pvalue, rel=1e-12
    )


@pytest.mark.parametrize(("b", "c"), [(9, 2), (4, 4), (0, 3), (25, 10)])
def test_one_sided_mid_p_is_upper_tail_minus_half_the_point(b, c):
    n = b + c
    expected = stats.binom.sf(b, n, 0.5) + 0.5 * stats.binom.pmf(b, n, 0.5)
    assert mcnemar_p(b, c, alternative="greater", mid_p=True) == pytest.approx(expected, rel=1e-12)


def test_mcnemar_agresti_presidential_approval_is_highly_significant():
    # Agresti, Categorical Data Analysis, 2nd ed., §10.1: 150 vs 86 discordant pairs, z = 4.17.
    z = (150 - 86) / math.sqrt(150 + 86)
    assert z == pytest.approx(4.17, abs=0.005)
    assert mcnemar_p(150, 86) < 1e-4
    assert mcnemar_p(150, 86) == pytest.approx(stats.binomtest(150, 236, 0.5).pvalue, rel=1e-12)


def test_mcnemar_rejects_negative_counts():
    with pytest.raises(ValueError):
        mcnemar_p(-1, 3)


def test_bootstrap_sees_a_clear_drop():
    diffs = [-1.0] * 20 + [0.0] * 80
    result = paired_bootstrap(diffs, samples=2000, seed=1)
    assert result.mean == pytest.approx(-0.2)
    assert result.ci_low < -0.2 < result.ci_high < 0
    assert result.p_drop < 0.001


def test_bootstrap_of_balanced_changes_is_not_significant():
    diffs = [-1.0] * 10 + [1.0] * 10 + [0.0] * 80
    result = paired_bootstrap(diffs, samples=2000, seed=1)
    assert result.mean == 0
    assert 0.3 < result.p_drop < 0.7
    assert result.ci_low < 0 < result.ci_high


def test_bootstrap_is_reproducible_and_handles_degenerate_input():
    rng = np.random.default_rng(3)
    diffs = rng.normal(-0.05, 0.3, 200)
    assert paired_bootstrap(diffs, seed=7) == paired_bootstrap(diffs, seed=7)
    assert paired_bootstrap([], seed=0).p_drop == 1.0
    assert paired_bootstrap([0.0] * 10, seed=0).p_drop == 1.0


def test_bootstrap_p_tracks_the_t_test_on_a_large_sample():
    rng = np.random.default_rng(11)
    diffs = rng.normal(-0.04, 0.3, 400)
    boot = paired_bootstrap(diffs, samples=4000, seed=2).p_drop
    t = stats.ttest_1samp(diffs, 0.0, alternative="less").pvalue
    assert boot == pytest.approx(t, abs=0.01)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mann_whitney_matches_scipy_with_ties(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 6, 40).astype(float)  # judge scores 1-5: many ties
    y = rng.integers(2, 6, 70).astype(float)
    u, p = mann_whitney_less(x, y)
    ref = stats.mannwhitneyu(x, y, alternative="less", method="asymptotic", use_continuity=True)
    assert u == pytest.approx(ref.statistic)
    assert p == pytest.approx(ref.pvalue, rel=1e-9)


def test_mann_whitney_edge_cases():
    assert mann_whitney_less([], [1.0])[1] == 1.0
    assert mann_whitney_less([3.0, 3.0], [3.0, 3.0])[1] == 1.0
