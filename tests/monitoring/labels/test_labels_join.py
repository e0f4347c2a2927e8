"""The join rule: the horizon window, several predictions per customer, and nothing dropped."""

from __future__ import annotations

import pandas as pd
import pytest

from monitoring.labels.join import JoinRule, join_labels, status_counts

RULE = JoinRule(horizon_days=30, delay_allowance_days=7)  # a label may be known on days D .. D+37
AS_OF = pd.Timestamp("2025-06-01", tz="UTC")


def _predictions(rows: list[tuple[str, str | None]], index=None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": pd.to_datetime([ts for ts, _ in rows], utc=True),
            "customer_id": [cid for _, cid in rows],
            "churn_probability": [0.5] * len(rows),
        },
        index=index,
    )


def _labels(rows: list[tuple[str, int, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [c for c, _, _ in rows],
            "churned": [y for _, y, _ in rows],
            "known_at": pd.to_datetime([k for _, _, k in rows], utc=True, format="ISO8601"),
        }
    )


@pytest.mark.parametrize(
    ("known_at", "matched"),
    [
        ("2025-01-09", False),  # the day before the prediction: an old outcome
        ("2025-01-10", True),  # the prediction's own day (earlier in the day than the prediction, too)
        ("2025-02-09", True),  # D + 30: inside the horizon
        ("2025-02-16", True),  # D + 37: the last day of the delay allowance
        ("2025-02-17", False),  # D + 38: too late to be this prediction's outcome
    ],
)
def test_horizon_window_is_whole_days_inclusive(known_at, matched):
    preds = _predictions([("2025-01-10T15:30:00Z", "a")])
    joined = join_labels(preds, _labels([("a", 1, known_at)]), RULE, as_of=AS_OF)
    assert joined["label_status"].iloc[0] == ("labeled" if matched else "unlabeled")
    assert (joined["label"].iloc[0] == 1) if matched else pd.isna(joined["label"].iloc[0])


def test_each_prediction_of_a_customer_is_judged_against_the_outcome_in_its_own_window():
    preds = _predictions(
        [
            ("2025-01-01T10:00:00Z", "a"),  # window to 02-07: sees the 01-31 "stayed"
            ("2025-01-20T10:00:00Z", "a"),  # window to 02-26: sees both, takes the newest (churned)
            ("2025-02-05T10:00:00Z", "a"),  # window to 03-14: sees the churn only
            ("2025-03-20T10:00:00Z", "a"),  # after the churn became known: no outcome for it
        ]
    )
    labels = _labels([("a", 0, "2025-01-31"), ("a", 1, "2025-02-10")])
    joined = join_labels(preds, labels, RULE, as_of=AS_OF)
    assert joined["label"].tolist() == [0, 1, 1, pd.NA]
    assert joined["label_known_at"].dt.strftime("%m-%d").fillna("-").tolist() == [
        "01-31",
        "02-10",
        "02-10",
        "-",
    ]
    assert joined["label_status"].tolist() == ["labeled", "labeled", "labeled", "unlabeled"]


def test_newest_by_known_at_then_by_ingestion():
    preds = _predictions([("2025-01-01T10:00:00Z", "a")])
    labels = _labels([("a", 1, "2025-01-31"), ("a", 0, "2025-01-31T12:00:00Z")])
    labels["ingested_at"] = pd.to_datetime(["2025-03-02", "2025-03-01"], utc=True)
    # known_at decides first (12:00 is newer, though ingested earlier) ...
    assert join_labels(preds, labels, RULE, as_of=AS_OF)["label"].tolist() == [0]
    # ... and on an exact tie, the record ingested last.
    labels["known_at"] = pd.to_datetime(["2025-01-31", "2025-01-31"], utc=True)
    assert join_labels(preds, labels, RULE, as_of=AS_OF)["label"].tolist() == [1]


def test_unlabelled_predictions_are_kept_counted_and_in_order():
    preds = _predictions(
        [
            ("2025-05-20T00:00:00Z", "z"),  # window still open on 06-01: pending
            ("2025-01-05T00:00:00Z", None),  # no customer id: can never be labelled
            ("2025-01-05T00:00:00Z", "b"),  # window closed, no label: unlabeled
            ("2025-01-05T00:00:00Z", "a"),
            ("2025-01-05T00:00:00Z", "  "),  # blank id counts as none
        ],
        index=[50, 40, 30, 20, 10],
    )
    joined = join_labels(preds, _labels([("a", 0, "2025-01-20")]), RULE, as_of=AS_OF)
    assert list(joined.index) == [50, 40, 30, 20, 10]
    assert joined["label_status"].tolist() == [
        "pending",
        "no_customer_id",
        "unlabeled",
        "labeled",
        "no_customer_id",
    ]
    assert status_counts(joined) == {"labeled": 1, "pending": 1, "unlabeled": 1, "no_customer_id": 2}
    assert len(joined) == len(preds)


def test_pending_ends_when_the_last_possible_day_is_over():
    preds = _predictions([("2025-01-10T23:00:00Z", "a")])
    last_day = pd.Timestamp("2025-02-16", tz="UTC")  # D + 37
    still = join_labels(preds, _labels([]), RULE, as_of=last_day + pd.Timedelta(hours=23))
    over = join_labels(preds, _labels([]), RULE, as_of=last_day + pd.Timedelta(days=1))
    assert still["label_status"].tolist() == ["pending"]
    assert over["label_status"].tolist() == ["unlabeled"]


def test_other_customers_labels_never_leak():
    preds = _predictions([("2025-01-01T00:00:00Z", "a"), ("2025-01-01T00:00:00Z", "ab")])
    joined = join_labels(preds, _labels([("ab", 1, "2025-01-15")]), RULE, as_of=AS_OF)
    assert joined["label_status"].tolist() == ["unlabeled", "labeled"]


def test_rule_validation():
    assert JoinRule(30, 7).window_days == 37
    with pytest.raises(ValueError):
        JoinRule(0, 7)
    with pytest.raises(ValueError):
        JoinRule(30, -1)
