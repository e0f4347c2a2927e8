"""Synthetic telco customers with a KNOWN churn function, and knobs that shift them.

The churn model is trained, served and monitored on data from here, so every monitoring claim can be
checked against the truth: drift jobs against `ShiftSpec` knobs, the label-free estimate (CBPE) against
`true_churn_probability`, the delayed-label job against `sample_churn_labels`.

    >>> X = generate_customers(1000, seed=1)
    >>> y = sample_churn_labels(X, seed=2)
    >>> X_new = generate_customers(1000, seed=1, shift=ShiftSpec(price_factor=1.25, tenure_factor=0.6))

Distributions (before any shift; one draw per customer, in this order)

| column | distribution |
|---|---|
| `contract_type` | month-to-month 0.55, one_year 0.22, two_year 0.23 |
| `internet_service` | dsl 0.35, fiber_optic 0.45, none 0.20 |
| `tenure_months` | round(72 · Beta(a, b)), 0-72; (a, b) by contract: month-to-month (0.8, 2.0), mean ≈ 21; |
| | one_year (1.5, 1.2), mean ≈ 40; two_year (2.5, 1.0), mean ≈ 51 |
| `monthly_charges` | none U(18, 30); dsl N(55, 10); fiber_optic N(85, 12); clipped to 18-120, 2 decimals |
| `total_charges` | tenure · monthly · LogNormal(0, 0.08), 2 decimals (so 0 when tenure is 0) |
| `support_tickets` | Poisson(0.8 × 1.8 if fiber_optic × 0.3 if none × 1.5 if month-to-month) |
| `payment_method` | e-check / mailed / bank / card: 0.45 / 0.20 / 0.18 / 0.17 for month-to-month, |
| | 0.15 / 0.25 / 0.30 / 0.30 otherwise |

The true churn function is P(churn) = 1 / (1 + exp(-z)), with z linear in the numeric and one-hot columns:

    z = -1.6 - 0.03·tenure_months + 0.015·monthly_charges + 0.25·support_tickets
        + {month-to-month: 0, one_year: -0.7, two_year: -1.4}[contract_type]
        + {electronic_check: 0.45, mailed_check: 0.15, bank_transfer: 0, credit_card: 0}[payment_method]
        + {dsl: 0, fiber_optic: 0.35, none: -0.4}[internet_service]
        + s · (-1.8 + 0.06·tenure_months + {m-t-m: 0, one_year: 0.7, two_year: 1.4}[contract_type]
               + {dsl: 0, fiber_optic: -0.7, none: 0.4}[internet_service])        (s = concept_shift)

At s = 0: base rate ≈ 26 %, Bayes ROC AUC ≈ 0.82. The model is well specified for a logistic regression,
so its probabilities are calibrated, which the label-free estimate (CBPE) relies on. `total_charges`
carries no weight of its own: it is a noisy product of two features that do. At s = 1 tenure, contracts
and fiber act the other way round (base rate ≈ 26 %; the s = 0 function's AUC on s = 1 labels ≈ 0.47).

Shifts (`ShiftSpec`) are applied so that the same seed gives the same customers, shifted:
`month_to_month_share` moves that fraction of one/two-year contracts to month-to-month before the columns
that depend on the contract are drawn; `tenure_factor` scales tenure (0.6 = a newer cohort);
`price_factor` scales monthly charges after clipping (so their range becomes 18-120 × factor), and
total charges follow both. `concept_shift` does not touch the features: it changes the TRUE churn function
(`true_churn_probability(..., concept_shift=s)`), so a model trained before is wrong on the same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from adapters.churn.schema import CATEGORIES, FEATURE_NAMES

__all__ = [
    "ShiftSpec",
    "generate_customers",
    "generate_labelled",
    "sample_churn_labels",
    "true_churn_probability",
]

FloatArray = npt.NDArray[np.float64]

_CONTRACTS = CATEGORIES["contract_type"]
_PAYMENTS = CATEGORIES["payment_method"]
_INTERNET = CATEGORIES["internet_service"]

_CONTRACT_P = (0.55, 0.22, 0.23)
_INTERNET_P = (0.35, 0.45, 0.20)
# Tenure Beta(a, b) per contract, in _CONTRACTS order.
_TENURE_A = np.array([0.8, 1.5, 2.5])
_TENURE_B = np.array([2.0, 1.2, 1.0])
_MAX_TENURE = 72
_CHARGE_LOW, _CHARGE_HIGH = 18.0, 120.0
_PAYMENT_P_MONTHLY = (0.45, 0.20, 0.18, 0.17)
_PAYMENT_P_CONTRACT = (0.15, 0.25, 0.30, 0.30)

# The true churn function. Weights are on raw units (per month, per dollar, per ticket) and on
# one-hot indicators with the first category of each feature as the reference level.
_INTERCEPT = -1.6
_W_TENURE = -0.03
_W_MONTHLY = 0.015
_W_TICKETS = 0.25
_W_CONTRACT = {"month-to-month": 0.0, "one_year": -0.7, "two_year": -1.4}
_W_PAYMENT = {"electronic_check": 0.45, "mailed_check": 0.15, "bank_transfer": 0.0, "credit_card": 0.0}
_W_INTERNET = {"dsl": 0.0, "fiber_optic": 0.35, "none": -0.4}
# What concept_shift = 1 adds: long tenure now raises churn (a competitor courts loyal customers),
# contracts stop protecting, fiber stops hurting; the intercept keeps the base rate in the same region.
_SHIFT_INTERCEPT = -1.8
_SHIFT_TENURE = 0.06
_SHIFT_CONTRACT = {"month-to-month": 0.0, "one_year": 0.7, "two_year": 1.4}
_SHIFT_INTERNET = {"dsl": 0.0, "fiber_optic": -0.7, "none": 0.4}


@dataclass(frozen=True)
class ShiftSpec:
    """How a generated population differs from the training one. The defaults shift nothing.

    - `price_factor`: multiplies monthly charges (1.25 = a 25 % price rise).
    - `tenure_factor`: multiplies tenure (0.6 = a newer cohort); the result is rounded and kept in 0-72.
    - `month_to_month_share`: fraction (0-1) of one/two-year contracts moved to month-to-month.
    - `concept_shift`: strength (0-1) of the change to the true churn function; pass it to
      `true_churn_probability` / `sample_churn_labels` (or use `generate_labelled`).
    """

    price_factor: float = 1.0
    tenure_factor: float = 1.0
    month_to_month_share: float = 0.0
    concept_shift: float = 0.0

    def __post_init__(self) -> None:
        if not (self.price_factor > 0 and np.isfinite(self.price_factor)):
            raise ValueError(f"price_factor must be a positive number, got {self.price_factor}")
        if not (self.tenure_factor > 0 and np.isfinite(self.tenure_factor)):
            raise ValueError(f"tenure_factor must be a positive number, got {self.tenure_factor}")
        if not 0.0 <= self.month_to_month_share <= 1.0:
            raise ValueError(f"month_to_month_share must be in [0, 1], got {self.month_to_month_share}")
        _check_concept_shift(self.concept_shift)


def _check_concept_shift(value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"concept_shift must be in [0, 1], got {value}")


def generate_customers(n: int, *, seed: int, shift: ShiftSpec = ShiftSpec()) -> pd.DataFrame:
    """`n` customers with the columns of `schema.FEATURE_NAMES` (int64, float64, object-str).

    The same `n` and `seed` always give the same frame; with a `shift`, the same customers shifted.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    # Every draw below happens whatever the shift, so the random stream (and thus the customers)
    # lines up between a shifted and an unshifted population of the same seed.
    contract = rng.choice(len(_CONTRACTS), size=n, p=_CONTRACT_P)
    moved = (contract > 0) & (rng.random(n) < shift.month_to_month_share)
    contract = np.where(moved, 0, contract)
    internet = rng.choice(len(_INTERNET), size=n, p=_INTERNET_P)

    tenure_raw = rng.beta(_TENURE_A[contract], _TENURE_B[contract]) * _MAX_TENURE
    tenure = np.clip(np.rint(tenure_raw * shift.tenure_factor), 0, _MAX_TENURE).astype(np.int64)

    charge_none = rng.uniform(18.0, 30.0, size=n)
    charge_dsl = rng.normal(55.0, 10.0, size=n)
    charge_fiber = rng.normal(85.0, 12.0, size=n)
    monthly = np.choose(internet, [charge_dsl, charge_fiber, charge_none])
    monthly = np.round(np.clip(monthly, _CHARGE_LOW, _CHARGE_HIGH) * shift.price_factor, 2)

    noise = rng.lognormal(0.0, 0.08, size=n)
    total = np.round(tenure * monthly * noise, 2)

    rate = 0.8 * np.choose(internet, [1.0, 1.8, 0.3]) * np.where(contract == 0, 1.5, 1.0)
    tickets = rng.poisson(rate).astype(np.int64)

    u = rng.random(n)
    cum_monthly = np.cumsum(_PAYMENT_P_MONTHLY)
    cum_contract = np.cumsum(_PAYMENT_P_CONTRACT)
    pay_monthly = np.minimum(np.searchsorted(cum_monthly, u, side="right"), len(_PAYMENTS) - 1)
    pay_contract = np.minimum(np.searchsorted(cum_contract, u, side="right"), len(_PAYMENTS) - 1)
    payment = np.where(contract == 0, pay_monthly, pay_contract)

    frame = pd.DataFrame(
        {
            "tenure_months": tenure,
            "monthly_charges": monthly.astype(np.float64),
            "total_charges": total.astype(np.float64),
            "support_tickets": tickets,
            "contract_type": _labels(_CONTRACTS, contract),
            "payment_method": _labels(_PAYMENTS, payment),
            "internet_service": _labels(_INTERNET, internet),
        }
    )
    return frame[list(FEATURE_NAMES)]


def _labels(categories: tuple[str, ...], codes: npt.NDArray[np.intp]) -> npt.NDArray[np.object_]:
    """Category codes as an object array of str (pandas keeps it as object dtype, not `string`)."""
    return np.array(categories, dtype=object)[codes]


def _lookup(column: pd.Series, weights: dict[str, float]) -> FloatArray:
    """Per-row weight of a categorical column; an unknown category is a clear error, not a NaN."""
    mapped = column.map(weights)
    if mapped.isna().any():
        unknown = sorted(set(column[mapped.isna()].astype(str)))
        raise ValueError(f"{column.name}: unknown categories {unknown}")
    values: FloatArray = mapped.to_numpy(dtype=np.float64)
    return values


def _logit(features: pd.DataFrame, concept_shift: float) -> FloatArray:
    tenure = features["tenure_months"].to_numpy(dtype=np.float64)
    monthly = features["monthly_charges"].to_numpy(dtype=np.float64)
    tickets = features["support_tickets"].to_numpy(dtype=np.float64)
    s = concept_shift
    z: FloatArray = (
        _INTERCEPT
        + s * _SHIFT_INTERCEPT
        + (_W_TENURE + s * _SHIFT_TENURE) * tenure
        + _W_MONTHLY * monthly
        + _W_TICKETS * tickets
        + _lookup(features["contract_type"], _W_CONTRACT)
        + s * _lookup(features["contract_type"], _SHIFT_CONTRACT)
        + _lookup(features["payment_method"], _W_PAYMENT)
        + _lookup(features["internet_service"], _W_INTERNET)
        + s * _lookup(features["internet_service"], _SHIFT_INTERNET)
    )
    return z


def true_churn_probability(features: pd.DataFrame, *, concept_shift: float = 0.0) -> FloatArray:
    """The true probability that each customer churns, under a concept shift of strength 0-1."""
    _check_concept_shift(concept_shift)
    p: FloatArray = 1.0 / (1.0 + np.exp(-_logit(features, concept_shift)))
    return p


def sample_churn_labels(
    features: pd.DataFrame, *, seed: int, concept_shift: float = 0.0
) -> npt.NDArray[np.int64]:
    """Draw 0/1 churn outcomes from the true probabilities; the same seed gives the same labels."""
    p = true_churn_probability(features, concept_shift=concept_shift)
    rng = np.random.default_rng(seed)
    return (rng.random(len(p)) < p).astype(np.int64)


def generate_labelled(n: int, *, seed: int, shift: ShiftSpec = ShiftSpec()) -> pd.DataFrame:
    """Customers plus a `churned` column drawn under `shift.concept_shift` (labels use seed + 1)."""
    frame = generate_customers(n, seed=seed, shift=shift)
    frame["churned"] = sample_churn_labels(frame, seed=seed + 1, concept_shift=shift.concept_shift)
    return frame
