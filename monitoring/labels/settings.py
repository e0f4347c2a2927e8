"""`monitoring.labels` in modelgate.yaml: export column names and the join's horizon, validated.

monitoring:
  labels:
    columns: {customer_id: cust_no, churned: status, known_at: closed_on}   # billing's names
    horizon_days: 30            # the model predicts churn within this many days
    delay_allowance_days: 7     # billing may report an outcome up to this many days late
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitoring.labels.join import JoinRule
from monitoring.labels.parse import LabelColumns

__all__ = ["LabelsSettings", "LabelsSettingsError", "labels_settings"]

_KEYS = {"columns", "horizon_days", "delay_allowance_days"}
_COLUMN_KEYS = {"customer_id", "churned", "known_at"}


class LabelsSettingsError(Exception):
    """`monitoring.labels` holds an unknown key or a value of the wrong kind. One-line message."""


@dataclass(frozen=True)
class LabelsSettings:
    columns: LabelColumns
    rule: JoinRule


def labels_settings(section: dict[str, Any]) -> LabelsSettings:
    """Validate the section (absent keys take their defaults)."""
    unknown = sorted(set(section) - _KEYS)
    if unknown:
        raise LabelsSettingsError(f"monitoring.labels: unknown key(s) {', '.join(unknown)}")
    columns = section.get("columns") or {}
    if not isinstance(columns, dict) or set(columns) - _COLUMN_KEYS:
        raise LabelsSettingsError(
            "monitoring.labels.columns must map some of customer_id, churned, known_at to column names"
        )
    for key, value in columns.items():
        if not isinstance(value, str) or not value:
            raise LabelsSettingsError(f"monitoring.labels.columns.{key} must be a column name")
    days: dict[str, int] = {}
    for key, default in (("horizon_days", 30), ("delay_allowance_days", 7)):
        value = section.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise LabelsSettingsError(f"monitoring.labels.{key} must be a whole number of days")
        days[key] = value
    try:
        rule = JoinRule(**days)
    except ValueError as exc:
        raise LabelsSettingsError(f"monitoring.labels: {exc}") from None
    return LabelsSettings(columns=LabelColumns(**columns), rule=rule)
