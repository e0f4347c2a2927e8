"""The simulated billing export: drawn from the true churn function, dated by the label delay."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adapters.churn.generator import generate_customers, true_churn_probability
from monitoring.labels.join import JoinRule, join_labels
from monitoring.labels.parse import LabelColumns, RawExport, parse_labels
from monitoring.labels.simulate import simulate_billing_export

START = pd.Timestamp("2025-01-01", tz="UTC")


def _log(n: int, seed: int = 3, repeat: int = 1) -> pd.DataFrame:
    """`n` customers, each scored `repeat` times a few days apart, over ~30 days."""
    frame = generate_customers(n, seed=seed)
    frame["customer_id"] = [f"c{i}" for i in range(n)]
    rng = np.random.default_rng(seed)
    base = START + pd.to_timedelta(rng.integers(0, 30 * 86400, n), unit="s")
    parts = [frame.assign(ts=base + pd.Timedelta(days=3 * k)) for k in range(repeat)]
    return pd.concat(parts, ignore_index=True)


def test_outcomes_follow_the_true_churn_function_and_are_reproducible():
    log = _log(6000)
    export = simulate_billing_export(log, delay_days=30, seed=1)
    again = simulate_billing_export(log, delay_days=30, seed=1)
    pd.testing.assert_frame_equal(export, again)
    assert len(export) == 6000 and set(export["churned"]) == {"true", "false"}
    expected = true_churn_probability(log).mean()
    rate = (export["churned"] == "true").mean()
    assert abs(rate - expected) < 0.02  # 6000 Bernoulli draws: sd ~0.006


def test_concept_shift_changes_who_churns():
    log = _log(6000)
    calm = simulate_billing_export(log, seed=1).set_index("customer_id")["churned"]
    shifted = simulate_billing_export(log, seed=1, concept_shift=1.0).set_index("customer_id")["churned"]
    # Under the shift, long-tenure customers churn more than short-tenure ones (the reverse of calm).
    tenure = log.set_index("customer_id")["tenure_months"]
    long = tenure[tenure > 48].index
    short = tenure[tenure < 12].index
    assert (calm[long] == "true").mean() < (calm[short] == "true").mean()
    assert (shifted[long] == "true").mean() > (shifted[short] == "true").mean()


def test_dates_follow_the_delay_and_as_of_leaves_out_unknown_outcomes():
    log = _log(2000)
    export = simulate_billing_export(log, delay_days=30, seed=2)
    day = log.set_index("customer_id")["ts"].dt.floor("D").dt.tz_localize(None)
    lag = pd.Series(
        pd.to_datetime(export["known_at"]).to_numpy() - day[export["customer_id"]].to_numpy()
    ).dt.days
    churned = (export["churned"] == "true").to_numpy()
    assert lag[churned].between(1, 30).all() and lag[churned].nunique() > 20
    assert (lag[~churned] == 30).all()
    as_of = START + pd.Timedelta(days=40)
    partial = simulate_billing_export(log, delay_days=30, seed=2, as_of=as_of)
    assert 0 < len(partial) < len(export)
    assert (pd.to_datetime(partial["known_at"], utc=True) <= as_of).all()


def test_the_export_parses_and_labels_every_customers_latest_prediction():
    log = _log(500, repeat=3)
    export = simulate_billing_export(log, delay_days=30, seed=4)
    raw = RawExport(frame=export.astype(object), lines=np.arange(2, len(export) + 2), line_kind="line")
    parsed = parse_labels(raw, LabelColumns())
    assert parsed.bad == [] and len(parsed.records) == 500
    joined = join_labels(log, parsed.records, JoinRule(30, 7), as_of=START + pd.Timedelta(days=200))
    latest = joined.sort_values("ts").drop_duplicates("customer_id", keep="last")
    assert (latest["label_status"] == "labeled").all()
    # Earlier predictions 3 and 6 days before also fall inside the 37-day window.
    assert (joined["label_status"] == "labeled").all()


def test_rows_without_customer_id_are_skipped_and_bad_delay_refused():
    log = _log(10)
    log.loc[:4, "customer_id"] = None
    assert len(simulate_billing_export(log)) == 5
    with pytest.raises(ValueError, match="delay_days"):
        simulate_billing_export(log, delay_days=-1)
    empty = simulate_billing_export(log.iloc[:0])
    assert list(empty.columns) == ["customer_id", "churned", "known_at"] and empty.empty
