"""The HTML report and its SVG chart: self-contained, well-formed, and showing what the windows say."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pandas as pd

from monitoring.performance.cbpe import Estimate
from monitoring.performance.chart import auc_chart
from monitoring.performance.evaluate import WindowResult
from monitoring.performance.report import render_html

SVG = "{http://www.w3.org/2000/svg}"


def _result(week: int, *, auc: float | None, est: float, pending: int = 0, gated: bool = True, below=False):
    start = pd.Timestamp("2025-01-06", tz="UTC") + pd.Timedelta(weeks=week)
    estimate = Estimate(1000, est, est - 0.02, est + 0.02, 0.8, 0.78, 0.82, 0.6, 0.5, 0.55, 0.25)
    return WindowResult(
        model_version="v<1>",
        start=start,
        end=start + pd.Timedelta(days=7),
        n_predictions=1000,
        n_labeled=1000 - pending,
        n_pending=pending,
        n_unlabeled=0,
        n_no_customer_id=0,
        n_positive=250,
        coverage=(1000 - pending) / 1000,
        gated=gated,
        auc=auc,
        auc_low=None if auc is None else auc - 0.03,
        auc_high=None if auc is None else auc + 0.03,
        precision=0.6,
        recall=0.5,
        f1=0.55,
        accuracy=0.8,
        estimate=estimate,
        reference_auc=0.83,
        below_limit=below,
    )


RESULTS = [
    _result(0, auc=0.82, est=0.83),
    _result(1, auc=0.70, est=0.83, below=True),
    _result(2, auc=0.81, est=0.83, pending=700, gated=False),
    _result(3, auc=None, est=0.82, pending=990, gated=False),
]


def _summary(breaches: list[dict]) -> dict:
    return {
        "reference": {"model_version": "v<1>", "validation_auc": 0.83, "train_auc": 0.84, "threshold": 0.5},
        "settings": {
            "auc_drop": 0.05,
            "min_labels": 1000,
            "max_pending_share": 0.2,
            "calibration": "platt",
            "horizon_days": 30,
            "delay_allowance_days": 7,
        },
        "breaches": breaches,
        "period": {"start": "2025-01-06T00:00:00+00:00", "end": "2025-02-03T00:00:00+00:00"},
        "window": "weekly",
    }


def test_chart_is_well_formed_svg_with_one_point_per_window():
    svg = auc_chart(RESULTS, validation_auc=0.83, auc_drop=0.05, title="AUC of v<1>")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    circles = root.findall(f".//{SVG}circle")  # realised points: windows with an AUC
    squares = [r for r in root.findall(f".//{SVG}rect") if r.get("width") == "6"]  # estimated points
    assert len(circles) == 3 and len(squares) == 4
    fills = [c.get("fill") for c in circles]
    assert fills == ["#1f5fbf", "#c0392b", "white"]  # gated, below the gate, not gated
    tips = [c.findtext(f"{SVG}title") for c in circles]
    assert tips[2].endswith("(not gated: too few labels, or many still pending)")
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "validation 0.830" in texts and "gate 0.780" in texts
    assert "labels pending: estimate only" in texts
    assert root.findtext(f"{SVG}title") == "AUC of v<1>"


def test_points_sit_where_their_values_say():
    svg = auc_chart(RESULTS[:2], validation_auc=0.83, auc_drop=0.05)
    ys = [float(c.get("cy")) for c in ET.fromstring(svg).findall(f".//{SVG}circle")]
    assert ys[1] > ys[0]  # 0.70 is drawn lower (larger y) than 0.82


def test_chart_without_windows_or_reference_still_renders():
    ET.fromstring(auc_chart([], validation_auc=None, auc_drop=0.05))
    no_ref = [r for r in RESULTS if r.auc is not None]
    ET.fromstring(auc_chart(no_ref, validation_auc=None, auc_drop=0.05))


def test_html_is_self_contained_escaped_and_shows_the_verdict():
    ok = render_html(_summary([]), RESULTS)
    assert ok.startswith("<!doctype html>") and "OK: no gated window" in ok
    assert "<script" not in ok and "http://" not in ok.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "v&lt;1&gt;" in ok and "v<1>" not in ok
    assert ok.count("<tr>") == 1 + len(RESULTS)
    bad = render_html(
        _summary([{"model_version": "v<1>", "window_start": "2025-01-13T00:00", "auc": 0.7, "limit": 0.78}]),
        RESULTS,
    )
    assert "AUC DROP: v&lt;1&gt;, window of 2025-01-13: AUC 0.700 &lt; 0.780" in bad


def test_html_with_no_windows():
    html = render_html(_summary([]), [])
    assert "No predictions in the period." in html and "<svg" not in html
