"""The two request logs as data: their Arrow row schemas and the partition keys of their folders.

One `LogSpec` per log. The writer (gateway), the jobs (monitoring, evals) and the compactor all take the
spec, so a column or a partition key is defined here once (docs/contracts.md describes the same tables):

    PREDICTION_LOG.schema, PREDICTION_LOG.partition_key     # ..., "model_version"
    LLM_LOG.partition_schema                               # date: string, model: string
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

__all__ = ["LLM_LOG", "LLM_LOG_SCHEMA", "PREDICTION_LOG", "PREDICTION_LOG_SCHEMA", "TS_TYPE", "LogSpec"]

TS_TYPE = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class LogSpec:
    """One log: `<uri>/date=YYYY-MM-DD/<partition_key>=<value>/<file>.parquet`, rows in `schema`.

    `date` (the UTC date of `ts`) and `partition_key` live in the path, not in the files.
    """

    name: str
    schema: pa.Schema
    partition_key: str

    @property
    def partition_schema(self) -> pa.Schema:
        return pa.schema([("date", pa.string()), (self.partition_key, pa.string())])

    @property
    def full_schema(self) -> pa.Schema:
        """Row columns plus the two partition columns, as a hive-partitioned reader sees them."""
        return pa.unify_schemas([self.schema, self.partition_schema])


# Non-null columns are the ones every writer always fills; the rest may be null (docs/contracts.md).
PREDICTION_LOG_SCHEMA = pa.schema(
    [
        pa.field("ts", TS_TYPE, nullable=False),
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("client_request_id", pa.string()),  # the client's x-request-id, kept apart from ours
        pa.field("trace_id", pa.string()),
        pa.field("tenant", pa.string(), nullable=False),
        pa.field("customer_id", pa.string()),
        pa.field("tenure_months", pa.int64()),
        pa.field("monthly_charges", pa.float64()),
        pa.field("total_charges", pa.float64()),
        pa.field("support_tickets", pa.int64()),
        pa.field("contract_type", pa.string()),
        pa.field("payment_method", pa.string()),
        pa.field("internet_service", pa.string()),
        pa.field("churn_probability", pa.float64()),
        pa.field("prediction", pa.string()),
    ]
)

LLM_LOG_SCHEMA = pa.schema(
    [
        pa.field("ts", TS_TYPE, nullable=False),
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("client_request_id", pa.string()),  # the client's x-request-id, kept apart from ours
        pa.field("trace_id", pa.string()),
        pa.field("tenant", pa.string(), nullable=False),
        pa.field("operation", pa.string()),
        pa.field("stream", pa.bool_()),
        pa.field("status", pa.int64()),
        pa.field("input_tokens", pa.int64()),
        pa.field("output_tokens", pa.int64()),
        pa.field("usage_estimated", pa.bool_()),
        pa.field("cost_usd", pa.float64()),
        pa.field("duration_s", pa.float64()),
        pa.field("ttft_s", pa.float64()),
        pa.field("finish_reason", pa.string()),
        pa.field("input_messages", pa.string()),
        pa.field("output_text", pa.string()),
        pa.field("reserved_usd", pa.float64()),
        pa.field("budget_overrun_usd", pa.float64()),  # cost beyond the reservation (upstream over-reported)
        pa.field("error_type", pa.string()),
        # The fleet: the model the client asked for (the `model` partition is the one that served it,
        # a fallback's when one did) and the replica that answered (null when none was reached).
        pa.field("requested_model", pa.string()),
        pa.field("upstream", pa.string()),
    ]
)

PREDICTION_LOG = LogSpec("prediction log", PREDICTION_LOG_SCHEMA, "model_version")
LLM_LOG = LogSpec("LLM request log", LLM_LOG_SCHEMA, "model")
