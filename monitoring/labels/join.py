"""Match each logged prediction to its customer's outcome: a left join with a time rule. Pure functions.

The rule (docs/labels.md, "The join"): a prediction made on day D for customer c is labelled with c's
current outcome (the store's newest label) when that label became known on a day K with

    D <= K <= D + horizon_days + delay_allowance_days        (whole UTC days, both ends inclusive)

Every prediction of a customer is judged on its own against that outcome, so a customer scored three
times inside the horizon contributes three labelled rows. Nothing is dropped: each row gets a status,

    labeled         a label matched
    pending         no label yet, but its window is still open at `as_of` (labels may still arrive)
    unlabeled       the window has closed without a matching label
    no_customer_id  the prediction carries no customer id, so no label can ever match

    joined = join_labels(predictions, resolve_latest(records), JoinRule(30, 7), as_of=now)
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np
import pandas as pd

__all__ = ["STATUSES", "JoinRule", "join_labels", "status_counts"]

STATUSES: tuple[str, ...] = ("labeled", "pending", "unlabeled", "no_customer_id")


@dataclass(frozen=True)
class JoinRule:
    """How long after a prediction its outcome counts: the model's horizon plus billing's reporting lag."""

    horizon_days: int = 30
    delay_allowance_days: int = 7

    def __post_init__(self) -> None:
        if self.horizon_days < 1 or self.delay_allowance_days < 0:
            raise ValueError("horizon_days must be >= 1 and delay_allowance_days >= 0")

    @property
    def window_days(self) -> int:
        return self.horizon_days + self.delay_allowance_days


def join_labels(
    predictions: pd.DataFrame, labels: pd.DataFrame, rule: JoinRule, *, as_of: pd.Timestamp
) -> pd.DataFrame:
    """`predictions` (needs ts, customer_id) with three columns added, in the same row order:

    - `label`: 1/0 where a label matched, else <NA> (nullable Int8);
    - `label_known_at`: when the matched label became known, else NaT;
    - `label_status`: one of STATUSES.

    `labels` must hold one row per customer (customer_id, churned, known_at), as `resolve_latest` returns.
    """
    if labels["customer_id"].duplicated().any():
        raise ValueError("labels must hold one row per customer_id (use resolve_latest)")
    out = predictions.copy()
    ids = out["customer_id"]
    has_id = ids.notna().to_numpy() & (ids.astype("string").str.len().fillna(0).to_numpy() > 0)

    lookup = labels.set_index("customer_id")
    key = ids.where(has_id, None).astype(object)
    churned = key.map(lookup["churned"]) if len(lookup) else pd.Series(np.nan, index=out.index)
    known = key.map(lookup["known_at"]) if len(lookup) else pd.Series(pd.NaT, index=out.index)
    known_at = pd.to_datetime(known, utc=True)

    pred_day = _utc_day(out["ts"])
    known_day = _utc_day(known_at)
    last_day = pred_day + pd.Timedelta(days=rule.window_days)
    matched = (known_day >= pred_day) & (known_day <= last_day) & churned.notna()
    matched_np = matched.fillna(False).to_numpy(dtype=bool) & has_id

    # Still pending while the last day a label could become known has not yet ended at `as_of`.
    still_open = (last_day + pd.Timedelta(days=1) > as_of).to_numpy(dtype=bool)
    status = np.where(
        ~has_id,
        "no_customer_id",
        np.where(matched_np, "labeled", np.where(still_open, "pending", "unlabeled")),
    )
    label_values = pd.array(np.where(matched_np, churned.fillna(0).to_numpy(), 0), dtype="Int8")
    label_values[~matched_np] = pd.NA
    out["label"] = label_values
    out["label_known_at"] = known_at.where(matched_np).astype("datetime64[us, UTC]")
    out["label_status"] = pd.Categorical(status, categories=list(STATUSES))
    return out


def _utc_day(ts: pd.Series) -> pd.Series:
    return pd.to_datetime(ts, utc=True).dt.floor("D")


def status_counts(joined: pd.DataFrame) -> dict[str, int]:
    """How many rows have each label status (every status present, zero included)."""
    counts = joined["label_status"].value_counts()
    return {s: int(counts.get(s, 0)) for s in STATUSES}
