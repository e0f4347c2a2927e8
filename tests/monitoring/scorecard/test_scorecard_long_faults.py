"""A model-validity fault lasts the rest of the month, longer than one promtool query may span.

The bugs this guards against: each such fault was asked for its first firing with one subquery over its
whole window, which promtool refuses (its unit-test engine loads at most 10,000 samples per query, one
per firing series per step); the refusal read as "not detected", so every ML fault of the month scored
as missed. And when promtool did answer with several alerts, their samples were read as one, with mixed
labels. Here a fault spans three days while six other alerts fire all along (6 x 2,160 steps > 10,000),
through the real rules and promtool; four days keep it quick.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from monitoring.scorecard.faults import DAY, Fault
from monitoring.scorecard.promtool import PromtoolError, Query, evaluate, parse_samples, read_answers
from monitoring.scorecard.score import FIRST_CHUNK, plan, score
from monitoring.scorecard.series import SeriesStore

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is needed (`make system-deps`)"),
]

DAYS = 4
REGRESSED_AT = 3 * DAY + 2 * 60  # the daily eval run of day 4, 02:00


def _month() -> SeriesStore:
    n = DAYS * DAY
    store = SeriesStore(n)
    flag = np.where(np.arange(n) >= REGRESSED_AT, 1.0, 0.0)
    store.gauge("modelgate_eval_regression", {"model": "m", "suite": "core", "job": "eval_run"}, flag)
    # Job metrics watched but no job ever reports: MonitoringJobStale fires for each of the six jobs from
    # the second day on, so a whole-window query would load 6 series x 2,160 steps and more.
    store.gauge("up", {"job": "modelgate", "instance": "127.0.0.1:8000"}, np.ones(n))
    return store


def test_a_fault_longer_than_promtools_query_limit_is_still_detected_on_time() -> None:
    fault = Fault(
        "eval_quality_drop", "eval_drop", start=DAY, duration=DAYS * DAY, goal_seconds=60.0 * (DAY + 60),
        alerts=("EvalRegression",), attribute_after=0, params=(("match", {"suite": "core"}),),
    )  # fmt: skip
    store = _month()
    assert 6 * (store.minutes - fault.start) / 2 > 10_000  # one whole-window query exceeds the cap
    queries = plan([fault], store.minutes)
    assert all(q.end - q.start <= FIRST_CHUNK for q in queries)
    card = score([fault], evaluate(store, queries), days=DAYS, seed=1, minutes=store.minutes)
    (row,) = card["faults"]
    assert row["alert"] == "EvalRegression" and row["detected"]
    # Fired after its 5-minute `for:` past the flag, in the last piece of the three-day window, with its
    # own labels (not another alert's mixed in).
    seconds_after_flag = row["detect_seconds"] - 60.0 * (REGRESSED_AT - fault.start)
    assert 5 * 60 <= seconds_after_flag <= 8 * 60
    assert row["met"] is False  # two days after the fault's start: later than its goal, and scored so
    assert row["also_fired"] == ["MonitoringJobStale"]


def test_samples_of_several_alerts_are_read_apart() -> None:
    body = (
        '{alertname="EvalRegression", suite="co}re"} 2.6676E+05, '
        '{alertname="MonitoringJobStale", job="x"} 2.592E+05'
    )
    assert parse_samples(body) == [
        ({"alertname": "EvalRegression", "suite": "co}re"}, 266760.0),
        ({"alertname": "MonitoringJobStale", "job": "x"}, 259200.0),
    ]


def test_a_query_promtool_refuses_is_an_error_not_a_quiet_miss() -> None:
    # promtool's own report when the old whole-window question ran over its limit on a month.
    whole = Query("whole", "first", 60, 21600)
    out = (
        "  FAILED:\n"
        '    expr: "min_over_time(timestamp(ALERTS{alertstate=\\"firing\\"})[21540m:2m])", time: 14d23h59m, '
        "err: query processing would load too many samples into memory in query execution\n"
    )
    with pytest.raises(PromtoolError, match="too many samples"):
        read_answers(out, [whole])


def test_two_faults_asking_the_same_question_both_get_the_answer() -> None:
    # The hourly and the daily stale-job faults start together: their pieces are the same query.
    hourly, daily = Query("fault:hourly:0", "first", 0, 1440), Query("fault:daily:0", "first", 0, 1440)
    out = (
        '    expr: "min_over_time(timestamp(ALERTS{alertstate=\\"firing\\"})[1440m:2m])", time: 23h59m,\n'
        "        exp: nil\n"
        '        got: {alertname="MonitoringJobStale", job="performance"} 6E+02\n'
    )
    answers = read_answers(out, [hourly, daily])
    assert (
        answers[hourly.key]
        == answers[daily.key]
        == [({"alertname": "MonitoringJobStale", "job": "performance"}, 600.0)]
    )
