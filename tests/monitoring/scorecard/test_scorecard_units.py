"""The scorecard's pure parts: generated series match the gateway's names and buckets, the calm traffic
has its shape, and scoring attributes firings to faults and counts the rest as false alarms."""

from __future__ import annotations

import numpy as np

from gateway.metrics import LATENCY_BUCKETS, TTFT_BUCKETS
from monitoring.scorecard import series
from monitoring.scorecard.faults import Fault, ops_faults
from monitoring.scorecard.ops import ops_series
from monitoring.scorecard.promtool import format_values
from monitoring.scorecard.score import markdown, plan, score


def test_generated_buckets_are_the_gateways() -> None:
    assert series.LATENCY_BUCKETS == LATENCY_BUCKETS
    assert series.TTFT_BUCKETS == TTFT_BUCKETS


def test_calm_traffic_has_nights_and_quiet_weekends() -> None:
    t = series.calm_traffic(days=7, seed=0)
    day = t.churn[: series.MINUTES_PER_DAY]
    assert day[15 * 60] > 3 * day[4 * 60]  # afternoon vs small hours
    tuesday = t.churn[series.MINUTES_PER_DAY : 2 * series.MINUTES_PER_DAY].sum()
    saturday = t.churn[5 * series.MINUTES_PER_DAY : 6 * series.MINUTES_PER_DAY].sum()
    assert 0.35 < saturday / tuesday < 0.45


def test_error_spike_shows_in_the_request_counters() -> None:
    faults = [f for f in ops_faults(days=3) if f.name == "error_spike_20pct"]
    store = ops_series(3, 1, faults)
    key = store.key(
        "modelgate_requests_total",
        {"backend": "churn", "route": "/v1/churn/predict", "method": "POST", "status": "500"},
    )
    per_minute = np.diff(store.series[key])
    f = faults[0]
    assert per_minute[f.start : f.end - 1].mean() > 50 * per_minute[f.start - 600 : f.start - 1].mean()
    # A mid-stream failure is counted with its real status, 502, in modelgate_requests_total.
    assert any('status="502"' in k and 'backend="llm"' in k for k in store.series)


def test_format_values_compresses_constants_and_marks_gaps() -> None:
    assert format_values(np.array([1.0, 1.0, 1.0])) == "1+0x2"
    assert format_values(np.array([np.nan, 2.0, 3.5])) == "_ 2 3.5"


def test_scoring_attributes_firings_and_counts_false_alarms() -> None:
    fault = Fault(
        "error_spike", "errors", start=120, duration=10, goal_seconds=300, alerts=("HighErrorRate",)
    )
    minutes = 3 * 1440
    queries = plan([fault], minutes)
    onset_keys = [q.key for q in queries if q.what == "onsets"]
    answers: dict[str, list[tuple[dict[str, str], float]]] = {q.key: [] for q in queries}
    answers["fault:error_spike:120"] = [
        ({"alertname": "HighErrorRate", "backend": "churn"}, 120 * 60 + 240.0),
        ({"alertname": "LLMUpstreamDown"}, 120 * 60 + 60.0),  # a symptom inside the window: not counted
    ]
    calm = next(k for k in onset_keys if int(k.split(":")[1]) >= fault.attribute_until)
    answers[calm] = [({"alertname": "DataDriftDetected", "model_version": "v1"}, 1.0)]
    card = score([fault], answers, days=3, seed=5, minutes=minutes)
    assert card["seed"] == 5
    row = card["faults"][0]
    assert {"name", "alert", "detected", "detect_seconds", "goal_seconds", "met"} <= set(row)
    assert (row["alert"], row["detected"], row["detect_seconds"], row["met"]) == (
        "HighErrorRate",
        True,
        240.0,
        True,
    )
    assert row["also_fired"] == ["LLMUpstreamDown"]
    # One false alarm in three days is ten per month: over the goal of one.
    assert card["false_alarms"] == [
        {
            "alert": "DataDriftDetected",
            "count": 1,
            "per_month": 10.0,
            "first_stretch_minute": int(calm.split(":")[1]),
        }
    ]
    assert card["false_alarms_per_month"] == 10.0 and card["met"] is False
    assert "error_spike" in markdown([card]) and "DataDriftDetected 10.0" in markdown([card])


def test_a_late_detection_misses_its_goal() -> None:
    fault = Fault("slow", "errors", start=120, duration=10, goal_seconds=60, alerts=("HighErrorRate",))
    answers = {"fault:slow:120": [({"alertname": "HighErrorRate"}, 120 * 60 + 120.0)]}
    card = score([fault], answers, days=2, seed=1, minutes=2880)
    assert card["faults"][0]["met"] is False and card["met"] is False
