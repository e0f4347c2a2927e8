"""Arrow schemas and partition folders of the two request logs (the contract is docs/contracts.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa

__all__ = ["CHURN_LOG_SCHEMA", "LLM_LOG_SCHEMA", "churn_partition", "llm_partition", "safe_partition_value"]

_TS = pa.timestamp("us", tz="UTC")

CHURN_LOG_SCHEMA = pa.schema(
    [
        ("ts", _TS),
        ("request_id", pa.string()),
        # The client's own x-client-request-id / x-request-id, for finding a request; never a key.
        ("client_request_id", pa.string()),
        ("trace_id", pa.string()),
        ("tenant", pa.string()),
        ("customer_id", pa.string()),
        ("tenure_months", pa.int64()),
        ("monthly_charges", pa.float64()),
        ("total_charges", pa.float64()),
        ("support_tickets", pa.int64()),
        ("contract_type", pa.string()),
        ("payment_method", pa.string()),
        ("internet_service", pa.string()),
        ("churn_probability", pa.float64()),
        ("prediction", pa.string()),
    ]
)

LLM_LOG_SCHEMA = pa.schema(
    [
        ("ts", _TS),
        ("request_id", pa.string()),
        ("client_request_id", pa.string()),  # the client's x-request-id, kept apart from ours
        ("trace_id", pa.string()),
        ("tenant", pa.string()),
        ("operation", pa.string()),
        ("stream", pa.bool_()),
        ("status", pa.int64()),
        ("input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("usage_estimated", pa.bool_()),
        ("cost_usd", pa.float64()),
        ("duration_s", pa.float64()),
        ("ttft_s", pa.float64()),
        ("finish_reason", pa.string()),
        ("input_messages", pa.string()),
        ("output_text", pa.string()),
        ("reserved_usd", pa.float64()),
        ("budget_overrun_usd", pa.float64()),  # cost beyond the reservation (upstream over-reported)
        ("error_type", pa.string()),
    ]
)


def safe_partition_value(value: str) -> str:
    """Partition values become folder names: keep them to a safe alphabet."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in value) or "_"


def _date(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%d")


def churn_partition(row: dict[str, Any]) -> str:
    return f"date={_date(row['ts'])}/model_version={safe_partition_value(row['model_version'])}"


def llm_partition(row: dict[str, Any]) -> str:
    return f"date={_date(row['ts'])}/model={safe_partition_value(row['model'])}"
