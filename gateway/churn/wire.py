"""Wire models of the churn routes, named after the contract (docs/api.md).

Numbers are strict (a string or a bool is a wrong type, not coerced), finite (NaN/Infinity refused) and
inside the ranges in adapters/churn/schema.py; categories must be ones the model was trained on.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from adapters.churn.schema import NUMERIC_RANGES

__all__ = [
    "ChurnBatchRequest",
    "ChurnBatchResponse",
    "ChurnFeatures",
    "ChurnPredictRequest",
    "ChurnPrediction",
]

_R = NUMERIC_RANGES


class ChurnFeatures(BaseModel):
    """One customer's features; the categories repeat adapters/churn/schema.CATEGORIES (a test checks)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    tenure_months: int = Field(..., ge=_R["tenure_months"].low, le=_R["tenure_months"].high)
    monthly_charges: float = Field(..., ge=_R["monthly_charges"].low, le=_R["monthly_charges"].high)
    total_charges: float = Field(..., ge=_R["total_charges"].low, le=_R["total_charges"].high)
    support_tickets: int = Field(..., ge=_R["support_tickets"].low, le=_R["support_tickets"].high)
    contract_type: Literal["month-to-month", "one_year", "two_year"]
    payment_method: Literal["electronic_check", "mailed_check", "bank_transfer", "credit_card"]
    internet_service: Literal["dsl", "fiber_optic", "none"]


class ChurnPredictRequest(ChurnFeatures):
    customer_id: str | None = Field(
        None, min_length=1, max_length=128, description="The client's customer id."
    )


class ChurnBatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instances: list[ChurnPredictRequest] = Field(..., min_length=1)


class ChurnPrediction(BaseModel):
    """The answer of `POST /v1/churn/predict`, and one entry of a batch answer."""

    churn_probability: float = Field(..., ge=0.0, le=1.0, description="Predicted probability of churn.")
    prediction: Literal["churn", "no_churn"] = Field(
        ..., description="`churn` when the probability reaches the model's serving threshold."
    )
    model_version: str = Field(..., description="The churn model version that answered.")
    request_id: str = Field(..., description="This request's id (also in the x-request-id header).")
    customer_id: str | None = Field(None, description="The client's customer id, echoed.")


class ChurnBatchResponse(BaseModel):
    """The answer of `POST /v1/churn/predict/batch`: one prediction per instance, in order."""

    predictions: list[ChurnPrediction]
    model_version: str = Field(..., description="The churn model version that answered.")
    request_id: str = Field(..., description="This request's id (also in the x-request-id header).")
