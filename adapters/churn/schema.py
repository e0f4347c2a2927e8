"""The churn model's feature schema: the one contract every other part reads.

The gateway validates requests against it, the generator produces it, the trainer encodes it,
and the monitoring jobs read the prediction log's feature columns by these names.

    >>> FEATURE_NAMES[:2]
    ('tenure_months', 'monthly_charges')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CATEGORICAL_FEATURES",
    "CATEGORIES",
    "FEATURE_NAMES",
    "NUMERIC_FEATURES",
    "NUMERIC_RANGES",
    "PREDICTION_LABELS",
    "NumericRange",
    "PredictionLabel",
]


@dataclass(frozen=True)
class NumericRange:
    """Inclusive bounds a served value must fall in; outside them a request is refused as absurd."""

    low: float
    high: float
    integer: bool = False


# Ranges a valid request may carry. They are wider than the generator's (a real customer may pay more
# than the training data saw), but they refuse values no customer can have.
NUMERIC_RANGES: dict[str, NumericRange] = {
    "tenure_months": NumericRange(0, 600, integer=True),
    "monthly_charges": NumericRange(0, 10_000),
    "total_charges": NumericRange(0, 1_000_000),
    "support_tickets": NumericRange(0, 1_000, integer=True),
}

CATEGORIES: dict[str, tuple[str, ...]] = {
    "contract_type": ("month-to-month", "one_year", "two_year"),
    "payment_method": ("electronic_check", "mailed_check", "bank_transfer", "credit_card"),
    "internet_service": ("dsl", "fiber_optic", "none"),
}

NUMERIC_FEATURES: tuple[str, ...] = tuple(NUMERIC_RANGES)
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(CATEGORIES)
FEATURE_NAMES: tuple[str, ...] = NUMERIC_FEATURES + CATEGORICAL_FEATURES

# The served class names; index 1 is the positive class.
PredictionLabel = Literal["no_churn", "churn"]
PREDICTION_LABELS: tuple[PredictionLabel, PredictionLabel] = ("no_churn", "churn")
