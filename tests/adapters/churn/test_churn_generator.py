"""The synthetic customers: reproducible, in range, shifted by the knobs, and the true churn function."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from adapters.churn.generator import (
    ShiftSpec,
    generate_customers,
    generate_labelled,
    sample_churn_labels,
    true_churn_probability,
)
from adapters.churn.schema import CATEGORICAL_FEATURES, CATEGORIES, FEATURE_NAMES

N = 20_000


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    return generate_customers(N, seed=11)


def test_same_seed_same_customers_and_other_seed_differs(base: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(base, generate_customers(N, seed=11))
    assert not base.equals(generate_customers(N, seed=12))


def test_columns_dtypes_and_categories(base: pd.DataFrame) -> None:
    assert tuple(base.columns) == FEATURE_NAMES
    assert base["tenure_months"].dtype == np.int64
    assert base["support_tickets"].dtype == np.int64
    assert base["monthly_charges"].dtype == np.float64
    assert base["total_charges"].dtype == np.float64
    for name in CATEGORICAL_FEATURES:
        assert base[name].dtype == object
        assert all(isinstance(v, str) for v in base[name].head(100))
        # every category occurs, and nothing outside the schema does
        assert set(base[name]) == set(CATEGORIES[name])
    assert generate_customers(0, seed=1).shape == (0, len(FEATURE_NAMES))


def test_numeric_ranges_and_total_consistent_with_tenure_times_charges(base: pd.DataFrame) -> None:
    assert base["tenure_months"].between(0, 72).all()
    assert base["monthly_charges"].between(18, 120).all()
    assert (base["total_charges"] >= 0).all()
    assert (base["support_tickets"] >= 0).all()
    zero = base["tenure_months"] == 0
    assert zero.any() and (base.loc[zero, "total_charges"] == 0).all()
    active = base[~zero]
    ratio = active["total_charges"] / (active["tenure_months"] * active["monthly_charges"])
    # LogNormal(0, 0.08) noise: essentially all within ±40 %, centred on 1
    assert ratio.between(0.6, 1.4).all()
    assert abs(float(np.median(ratio)) - 1.0) < 0.01


def test_support_tickets_higher_for_fiber_and_month_to_month(base: pd.DataFrame) -> None:
    by_internet = base.groupby("internet_service")["support_tickets"].mean()
    assert by_internet["fiber_optic"] > by_internet["dsl"] > by_internet["none"]
    by_contract = base.groupby("contract_type")["support_tickets"].mean()
    assert by_contract["month-to-month"] > 1.3 * by_contract["two_year"]


def test_price_factor_scales_the_same_customers_bills(base: pd.DataFrame) -> None:
    shifted = generate_customers(N, seed=11, shift=ShiftSpec(price_factor=1.25))
    assert (shifted["tenure_months"] == base["tenure_months"]).all()
    np.testing.assert_allclose(shifted["monthly_charges"], base["monthly_charges"] * 1.25, atol=0.01)
    assert shifted["total_charges"].mean() > 1.2 * base["total_charges"].mean()


def test_tenure_factor_makes_a_newer_cohort(base: pd.DataFrame) -> None:
    shifted = generate_customers(N, seed=11, shift=ShiftSpec(tenure_factor=0.6))
    assert shifted["tenure_months"].dtype == np.int64
    assert shifted["tenure_months"].between(0, 72).all()
    ratio = shifted["tenure_months"].mean() / base["tenure_months"].mean()
    assert 0.55 < ratio < 0.65


def test_month_to_month_share_moves_that_fraction_of_contracts(base: pd.DataFrame) -> None:
    shifted = generate_customers(N, seed=11, shift=ShiftSpec(month_to_month_share=0.4))
    before = (base["contract_type"] == "month-to-month").mean()
    after = (shifted["contract_type"] == "month-to-month").mean()
    assert after == pytest.approx(before + 0.4 * (1 - before), abs=0.02)
    # only moves towards month-to-month: nobody on month-to-month gains a contract
    was_monthly = base["contract_type"] == "month-to-month"
    assert (shifted.loc[was_monthly, "contract_type"] == "month-to-month").all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"price_factor": 0.0},
        {"tenure_factor": -1.0},
        {"price_factor": float("nan")},
        {"month_to_month_share": 1.5},
        {"concept_shift": -0.1},
        {"concept_shift": 2.0},
    ],
)
def test_shift_spec_refuses_out_of_range_knobs(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        ShiftSpec(**kwargs)


def test_true_function_base_rate_and_separability(base: pd.DataFrame) -> None:
    p = true_churn_probability(base)
    assert p.shape == (N,) and ((p > 0) & (p < 1)).all()
    y = sample_churn_labels(base, seed=5)
    assert 0.20 <= y.mean() <= 0.30
    assert y.mean() == pytest.approx(p.mean(), abs=0.01)
    assert 0.75 <= roc_auc_score(y, p) <= 0.88


def test_true_function_directions() -> None:
    customer = {
        "tenure_months": 12,
        "monthly_charges": 70.0,
        "total_charges": 840.0,
        "support_tickets": 1,
        "contract_type": "month-to-month",
        "payment_method": "credit_card",
        "internet_service": "dsl",
    }

    def p(**change: object) -> float:
        return float(true_churn_probability(pd.DataFrame([{**customer, **change}]))[0])

    assert p(support_tickets=4) > p()
    assert p(tenure_months=60) < p()
    assert p(monthly_charges=110.0) > p()
    assert p(contract_type="two_year") < p(contract_type="one_year") < p()
    assert p(payment_method="electronic_check") > p()


def test_concept_shift_makes_the_old_function_wrong(base: pd.DataFrame) -> None:
    old = true_churn_probability(base)
    new = true_churn_probability(base, concept_shift=1.0)
    y_new = sample_churn_labels(base, seed=5, concept_shift=1.0)
    assert 0.15 <= y_new.mean() <= 0.35  # the base rate stays plausible; the ranking breaks
    assert roc_auc_score(y_new, old) < 0.6
    assert roc_auc_score(y_new, new) > 0.65
    half = true_churn_probability(base, concept_shift=0.5)
    assert not np.allclose(half, old) and not np.allclose(half, new)
    with pytest.raises(ValueError, match="concept_shift"):
        true_churn_probability(base, concept_shift=1.5)


def test_labels_reproducible_and_binary(base: pd.DataFrame) -> None:
    y = sample_churn_labels(base, seed=3)
    assert y.dtype == np.int64 and set(np.unique(y)) == {0, 1}
    np.testing.assert_array_equal(y, sample_churn_labels(base, seed=3))
    assert not np.array_equal(y, sample_churn_labels(base, seed=4))


def test_unknown_category_is_a_clear_error(base: pd.DataFrame) -> None:
    bad = base.head(3).copy()
    bad.loc[1, "internet_service"] = "satellite"
    with pytest.raises(ValueError, match=r"internet_service.*satellite"):
        true_churn_probability(bad)


def test_generate_labelled_uses_the_concept_shift_of_the_spec() -> None:
    plain = generate_labelled(5000, seed=2)
    shifted = generate_labelled(5000, seed=2, shift=ShiftSpec(concept_shift=1.0))
    pd.testing.assert_frame_equal(plain[list(FEATURE_NAMES)], shifted[list(FEATURE_NAMES)])
    assert plain["churned"].dtype == np.int64
    expected = sample_churn_labels(plain[list(FEATURE_NAMES)], seed=3, concept_shift=1.0)
    np.testing.assert_array_equal(shifted["churned"], expected)
