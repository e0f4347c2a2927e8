"""A billing export for the logged traffic, drawn from the generator's TRUE churn function. Pure.

So the label lane runs end to end without a billing system: each customer in the prediction log gets an
outcome drawn from `true_churn_probability` of the features of their latest prediction (under an optional
concept shift), and a date it became known:

- a churner cancels some day within `delay_days` of that prediction (uniform over 1..delay_days);
- a customer who stays is confirmed when the billing period closes, `delay_days` after it.

Outcomes not known yet at `as_of` are left out, as a real export taken on that day would. With the
default delay of 30 days, predictions from the last 30 days have no labels yet: the windows where the
performance report shows only the label-free estimate.

    export = simulate_billing_export(log_rows, delay_days=30, as_of=now, seed=0)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adapters.churn.generator import true_churn_probability
from adapters.churn.schema import FEATURE_NAMES

__all__ = ["simulate_billing_export"]


def simulate_billing_export(
    predictions: pd.DataFrame,
    *,
    delay_days: int = 30,
    concept_shift: float = 0.0,
    as_of: pd.Timestamp | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Rows `customer_id, churned ('true'/'false'), known_at ('YYYY-MM-DD')`, one per logged customer.

    `predictions` needs `ts`, `customer_id` and the feature columns. Rows without a customer id are
    skipped (no billing system could label them). The same inputs and seed give the same export.
    """
    if delay_days < 0:
        raise ValueError(f"delay_days must be >= 0, got {delay_days}")
    rows = predictions[predictions["customer_id"].notna() & (predictions["customer_id"] != "")]
    if rows.empty:
        return pd.DataFrame({"customer_id": [], "churned": [], "known_at": []}, dtype=object)
    latest = (
        rows.sort_values(["customer_id", "ts"], kind="mergesort")
        .drop_duplicates("customer_id", keep="last")
        .reset_index(drop=True)
    )
    p = true_churn_probability(latest[list(FEATURE_NAMES)], concept_shift=concept_shift)
    rng = np.random.default_rng(seed)
    churned = rng.random(len(latest)) < p
    # Drawn for every row whatever the outcome, so the stream does not depend on the outcomes.
    cancel_after = np.ceil(rng.random(len(latest)) * delay_days).astype(np.int64)
    cancel_after = np.maximum(cancel_after, 1 if delay_days > 0 else 0)
    lag_days = np.where(churned, cancel_after, delay_days)
    day = pd.to_datetime(latest["ts"], utc=True).dt.floor("D")
    known_at = day + pd.to_timedelta(lag_days, unit="D")
    export = pd.DataFrame(
        {
            "customer_id": latest["customer_id"].astype(str),
            "churned": np.where(churned, "true", "false"),
            "known_at": known_at.dt.strftime("%Y-%m-%d"),
        }
    )
    if as_of is not None:
        export = export[(known_at <= as_of).to_numpy()]
    return export.sort_values(["known_at", "customer_id"], kind="mergesort").reset_index(drop=True)
