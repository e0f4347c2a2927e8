"""Request bodies of the admin API. Unknown fields are refused (422 naming the field), like the config."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["KeyCreate", "TenantCreate", "TenantPatch"]

_STRICT = ConfigDict(extra="forbid")


class TenantLimits(BaseModel):
    model_config = _STRICT
    daily_usd: float | None = Field(None, ge=0, allow_inf_nan=False, description="Hard budget per UTC day.")
    monthly_usd: float | None = Field(
        None, ge=0, allow_inf_nan=False, description="Hard budget per UTC month."
    )
    rpm: int | None = Field(None, ge=1, description="LLM requests per minute.")
    tpm: int | None = Field(None, ge=1, description="LLM tokens per minute.")
    max_concurrency: int | None = Field(None, ge=1, description="LLM requests in flight at once.")


class TenantCreate(TenantLimits):
    name: str = Field(
        ...,
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="Lower-case letters, digits, '-' and '_'; a metric label value.",
    )


class TenantPatch(TenantLimits):
    """Only the fields sent change; `null` removes a limit."""


class KeyCreate(BaseModel):
    model_config = _STRICT
    name: str = Field("", max_length=64, description="A label for the key (who or what uses it).")
    expires_at: datetime | None = Field(
        None, description="When the key stops working: ISO 8601 or Unix seconds; must be in the future."
    )
    lanes: list[Literal["churn", "llm"]] | None = Field(
        None, min_length=1, description="Lanes the key may use; omitted = all."
    )
    models: list[str] | None = Field(
        None, min_length=1, description="LLM models the key may call; omitted = all."
    )
    rpm: int | None = Field(
        None, ge=1, description="The key's own requests per minute (besides the tenant's)."
    )
    tpm: int | None = Field(None, ge=1, description="The key's own tokens per minute (besides the tenant's).")

    @field_validator("expires_at")
    @classmethod
    def _future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if value <= datetime.now(UTC):
            raise ValueError("must be in the future")
        return value
