"""The regression verdict: its bars, and its false-alarm and detection rates measured by simulation.

The simulations draw per-item pass/fail outcomes the way the simulator produces them (each answer wrong
with probability `wrong_rate`, independently), for a suite the size of `core` (156 items) and a trailing
baseline of K = 3 runs. Measured rates are printed (run with -s) and recorded in docs/evals.md.
"""

import numpy as np
import pytest

from evals.regression import (
    ItemOutcome,
    RegressionConfig,
    Verdict,
    compare_paired,
    compare_unpaired,
    parse_baseline_spec,
)

N_ITEMS = 156
K = 3
CFG = RegressionConfig()  # alpha 0.01, min_effect 0.03


KEYS = [f"item-{i}#h" for i in range(N_ITEMS)]
PASS, FAIL = ItemOutcome(True, 1.0), ItemOutcome(False, 0.0)


def simulated_run(rng, wrong_rate, fail_prob=None):
    p_wrong = np.full(N_ITEMS, wrong_rate) if fail_prob is None else fail_prob
    passed = (rng.random(N_ITEMS) >= p_wrong).tolist()
    return {key: PASS if ok else FAIL for key, ok in zip(KEYS, passed, strict=True)}


def fire_rate(base_wrong, now_wrong, seeds, *, offset=0, majority=False, difficulty=False):
    fired = 0
    for seed in range(offset, offset + seeds):
        rng = np.random.default_rng(seed)
        probs = None
        if difficulty:
            # Items differ in difficulty (mean wrong rate ~ base_wrong), as real suites do.
            probs = rng.beta(0.5, 0.5 / base_wrong - 0.5, N_ITEMS)
        baseline = [simulated_run(rng, base_wrong, fail_prob=probs) for _ in range(K)]
        now_probs = None if probs is None else np.clip(probs + (now_wrong - base_wrong), 0, 1)
        current = simulated_run(rng, now_wrong, fail_prob=now_probs)
        if majority:
            baseline = [
                {k: ItemOutcome(sum(b[k].passed for b in baseline) * 2 > K, 0.0) for k in current},
            ]
        fired += compare_paired(current, baseline, CFG).verdict is Verdict.REGRESSED
    return fired / seeds


def test_false_alarm_rate_at_equal_quality_is_well_under_alpha():
    rate = fire_rate(0.05, 0.05, seeds=1000)
    print(f"\nfalse-alarm rate, wrong-rate 0.05 vs 0.05, n={N_ITEMS}, K={K}: {rate:.2%}")
    assert rate <= 0.01


def test_false_alarm_rate_with_uneven_item_difficulty():
    rate = fire_rate(0.05, 0.05, seeds=500, offset=50_000, difficulty=True)
    print(f"\nfalse-alarm rate with per-item difficulty: {rate:.2%}")
    assert rate <= 0.01


def test_a_majority_vote_baseline_would_false_alarm_far_more_often():
    # Why the per-item baseline is a pass RATE: a majority over K noisy runs is cleaner than the one noisy
    # run it is compared with, so equal quality looks like a drop.
    rate = fire_rate(0.05, 0.05, seeds=200, majority=True)
    print(f"\nmajority-vote baseline false-alarm rate: {rate:.1%}")
    assert rate > 0.15


def test_drop_from_5_to_25_percent_wrong_is_caught():
    rate = fire_rate(0.05, 0.25, seeds=300, offset=10_000)
    print(f"\ndetection rate, wrong-rate 0.05 -> 0.25: {rate:.2%}")
    assert rate >= 0.99


def test_improvement_never_fires():
    assert fire_rate(0.25, 0.05, seeds=100, offset=20_000) == 0


def run_of(passes, n=100):
    return {f"i{i}#h": ItemOutcome(i < passes, 1.0 if i < passes else 0.0) for i in range(n)}


def test_verdict_needs_both_effect_and_significance():
    baseline = [run_of(2000, n=2000)] * 3
    # Significant (p tiny with b = 40, c = 0) but a 2-point drop is under the 3-point bar.
    small = compare_paired(run_of(1960, n=2000), baseline, CFG)
    assert small.mcnemar_p < 1e-6
    assert small.pass_drop == pytest.approx(0.02)
    assert small.verdict is Verdict.OK
    big = compare_paired(run_of(1900, n=2000), baseline, CFG)
    assert big.verdict is Verdict.REGRESSED
    assert "pass rate fell" in big.reasons[0]


def test_large_effect_without_significance_is_not_a_regression():
    baseline = [run_of(10, n=10)]
    now = run_of(8, n=10)  # 20 points down, but only b = 2 discordant pairs
    result = compare_paired(now, baseline, CFG)
    assert result.pass_drop == pytest.approx(0.2)
    assert result.mcnemar_p > CFG.alpha
    assert result.verdict is Verdict.OK


def test_pairing_uses_baseline_pass_rates_and_skips_unpaired_items():
    base1 = {"a#1": ItemOutcome(True, 1.0), "b#1": ItemOutcome(True, 1.0), "c#1": ItemOutcome(False, 0.0)}
    base2 = {"a#1": ItemOutcome(False, 0.0), "b#1": ItemOutcome(True, 1.0)}
    now = {"a#1": ItemOutcome(False, 0.0), "b#1": ItemOutcome(True, 1.0), "new#9": ItemOutcome(False, 0.0)}
    result = compare_paired(now, [base1, base2], CFG)
    assert result.n_paired == 2
    assert result.baseline_rate_by_item == {"a#1": 0.5, "b#1": 1.0}
    assert (result.b, result.c) == (0.5, 0.0)
    assert result.graded is False
    assert result.bootstrap_p is None


def test_fewer_baseline_runs_than_asked_give_no_verdict():
    baseline = [run_of(100)]
    dropped = run_of(50)
    assert compare_paired(dropped, baseline, CFG).verdict is Verdict.REGRESSED
    partial = compare_paired(dropped, baseline, CFG, min_runs=3)
    assert partial.verdict is Verdict.NO_BASELINE
    assert partial.pass_drop == 0.5 and partial.n_baseline_runs == 1  # the numbers are still there
    assert compare_unpaired([0.0] * 50, [[1.0] * 50], CFG, min_runs=2).verdict is Verdict.NO_BASELINE
    assert compare_unpaired([0.0] * 50, [[1.0] * 50] * 2, CFG, min_runs=2).verdict is Verdict.REGRESSED


def test_no_baseline():
    result = compare_paired(run_of(50), [], CFG)
    assert result.verdict is Verdict.NO_BASELINE
    disjoint = compare_paired({"x#1": ItemOutcome(True, 1.0)}, [{"y#1": ItemOutcome(True, 1.0)}], CFG)
    assert disjoint.verdict is Verdict.NO_BASELINE


def test_graded_scores_use_the_paired_bootstrap():
    rng = np.random.default_rng(5)
    levels = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    then = rng.choice(levels[2:], 200)
    baseline = [{f"i{i}#h": ItemOutcome(s >= 0.75, float(s)) for i, s in enumerate(then)}]
    # Same pass/fail for every item (so McNemar sees nothing), but every score a notch lower where it can go.
    now_scores = np.where(then == 1.0, 0.75, np.where(then == 0.5, 0.25, then))
    now_scores = np.where((then == 0.75), 0.75, now_scores)
    current = {f"i{i}#h": ItemOutcome(s >= 0.75, float(s)) for i, s in enumerate(now_scores)}
    result = compare_paired(current, baseline, CFG)
    assert result.graded
    assert result.score_drop > CFG.min_effect
    assert result.bootstrap_p is not None and result.bootstrap_p <= CFG.alpha
    assert result.verdict is Verdict.REGRESSED
    assert any("mean score fell" in r for r in result.reasons)


def test_unpaired_comparison_of_judged_samples():
    rng = np.random.default_rng(8)
    base = [list(rng.choice([0.5, 0.75, 1.0], 150, p=[0.1, 0.3, 0.6])) for _ in range(3)]
    same = list(rng.choice([0.5, 0.75, 1.0], 150, p=[0.1, 0.3, 0.6]))
    worse = list(rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], 150, p=[0.2, 0.2, 0.2, 0.2, 0.2]))
    assert compare_unpaired(same, base, CFG).verdict is Verdict.OK
    dropped = compare_unpaired(worse, base, CFG)
    assert dropped.verdict is Verdict.REGRESSED
    assert dropped.score_drop > 0.2
    assert compare_unpaired(same, [], CFG).verdict is Verdict.NO_BASELINE


def test_unpaired_false_alarm_rate():
    fired = 0
    levels, probs = [0.0, 0.25, 0.5, 0.75, 1.0], [0.05, 0.05, 0.1, 0.3, 0.5]
    for seed in range(300):
        rng = np.random.default_rng(30_000 + seed)
        base = [list(rng.choice(levels, 100, p=probs)) for _ in range(7)]
        now = list(rng.choice(levels, 100, p=probs))
        fired += compare_unpaired(now, base, CFG).verdict is Verdict.REGRESSED
    print(f"\nunpaired false-alarm rate: {fired / 300:.2%}")
    assert fired / 300 <= 0.02


@pytest.mark.parametrize(("spec", "k"), [("trailing:3", 3), ("trailing:10", 10)])
def test_baseline_spec(spec, k):
    assert parse_baseline_spec(spec) == k


@pytest.mark.parametrize("spec", ["trailing", "trailing:0", "last:3", "trailing:x", ""])
def test_bad_baseline_spec(spec):
    with pytest.raises(ValueError, match="trailing:K"):
        parse_baseline_spec(spec)


def test_config_bounds():
    with pytest.raises(ValueError):
        RegressionConfig(alpha=0)
    with pytest.raises(ValueError):
        RegressionConfig(min_effect=2)
