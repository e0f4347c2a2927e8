"""Match each logged prediction to its customer's outcome: a left join with a time rule. Pure functions.

The rule (docs/labels.md, "The join"): a prediction made on UTC day D for customer c takes c's label that
became known on a day K with

    D <= K <= D + horizon_days + delay_allowance_days        (whole UTC days, both ends inclusive)

and when several of c's labels fall in that window, the newest (by known_at, then by ingestion). Every
prediction of a customer is judged on its own, so a customer scored three times inside the horizon gives
three labelled rows. Nothing is dropped: each row gets a status,

    labeled         a label matched
    pending         no label yet, but its window is still open at `as_of` (labels may still arrive)
    unlabeled       the window has closed without a matching label
    no_customer_id  the prediction carries no customer id, so no label can ever match

    joined = join_labels(predictions, current_labels(records), JoinRule(30, 7), as_of=now)
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
    """`predictions` (needs ts, customer_id) with three columns added, rows and order unchanged:

    - `label`: 1/0 where a label matched, else <NA> (nullable Int8);
    - `label_known_at`: when the matched label became known, else NaT;
    - `label_status`: one of STATUSES.

    `labels` holds customer_id, churned, known_at (optionally ingested_at, the tie-break between two
    labels known on the same day), at most one row per (customer_id, known_at) — `current_labels`.
    """
    n = len(predictions)
    ids = predictions["customer_id"]
    id_text = ids.astype("string").str.strip()
    has_id = (ids.notna() & (id_text.str.len() > 0)).fillna(False).to_numpy(dtype=bool)
    pred_day = _naive_utc(predictions["ts"]).dt.floor("D").to_numpy()
    window = np.timedelta64(rule.window_days, "D")

    left = pd.DataFrame({"_row": np.arange(n)[has_id], "customer_id": id_text.to_numpy()[has_id]})
    left["_day"] = pred_day[has_id]
    right = labels.assign(customer_id=labels["customer_id"].astype("string").str.strip())
    tie = ["ingested_at"] if "ingested_at" in right.columns else []
    right = right[["customer_id", "churned", "known_at", *tie]]
    # The inner merge only finds candidates; the result below keeps every prediction.
    candidates = left.merge(right, on="customer_id", how="inner")
    known_day = _naive_utc(candidates["known_at"]).dt.floor("D")
    inside = (known_day >= candidates["_day"]) & (known_day <= candidates["_day"] + window)
    chosen = (
        candidates[inside.to_numpy()]
        .sort_values(["_row", "known_at", *tie], kind="mergesort")
        .drop_duplicates("_row", keep="last")
    )
    rows = chosen["_row"].to_numpy(dtype=np.int64)
    matched = np.zeros(n, dtype=bool)
    matched[rows] = True

    label = pd.array(np.zeros(n, dtype=np.int8), dtype="Int8")
    label[rows] = chosen["churned"].to_numpy(dtype=np.int8)
    label[~matched] = pd.NA
    known_at = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    known_at[rows] = _naive_utc(chosen["known_at"]).to_numpy(dtype="datetime64[us]")

    # Still pending while the last day a label could become known has not yet ended at `as_of`.
    window_closes = pred_day + window + np.timedelta64(1, "D")
    still_open = window_closes > as_of.tz_convert("UTC").tz_localize(None).to_datetime64()
    status = np.where(
        ~has_id,
        "no_customer_id",
        np.where(matched, "labeled", np.where(still_open, "pending", "unlabeled")),
    )
    out = predictions.copy()
    out["label"] = label
    out["label_known_at"] = pd.DatetimeIndex(known_at).tz_localize("UTC")
    out["label_status"] = pd.Categorical(status, categories=list(STATUSES))
    return out


def _naive_utc(values: pd.Series) -> pd.Series:
    """UTC wall time without a zone: numpy compares those directly."""
    return pd.to_datetime(values, utc=True).dt.tz_localize(None)


def status_counts(joined: pd.DataFrame) -> dict[str, int]:
    """How many rows have each label status (every status present, zero included)."""
    counts = joined["label_status"].value_counts()
    return {s: int(counts.get(s, 0)) for s in STATUSES}
