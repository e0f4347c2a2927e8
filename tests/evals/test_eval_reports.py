"""The JSON summary and the self-contained HTML report."""

import json
import re
from dataclasses import replace

from evals.html_report import inline_diff, render_run_report, trend_svg
from evals.records import ItemResult, summarise_run
from evals.regression import ItemOutcome, RegressionConfig, compare_paired
from evals.report import changes, run_summary
from evals.scorers import Outcome


def item(i, outcome, output, expected="Paris"):
    score = None if outcome is Outcome.ERROR else float(outcome is Outcome.PASS)
    return ItemResult(
        f"q{i}", f"q{i}#h", outcome, score, output=output, expected=expected, detail="d", tags=("x",)
    )


NOW = [
    item(0, Outcome.FAIL, "Lyon <b>"),
    item(1, Outcome.PASS, "Paris"),
    item(2, Outcome.ERROR, ""),
    item(3, Outcome.PASS, "Paris"),
]
BEFORE = [item(0, Outcome.PASS, "Paris"), item(1, Outcome.PASS, "Paris"), item(3, Outcome.FAIL, "Rome")]


def build():
    cfg = RegressionConfig()
    baseline = [{r.key: ItemOutcome(r.outcome is Outcome.PASS, r.score) for r in BEFORE}]
    current = {r.key: ItemOutcome(r.outcome is Outcome.PASS, r.score) for r in NOW if r.score is not None}
    comparison = compare_paired(current, baseline, cfg)
    runs = [
        replace(summarise_run(f"r{n}", "run", "s", "m", BEFORE, started_at=n, finished_at=n + 1), verdict=v)
        for n, v in enumerate(["ok", "ok", "regressed"])
    ]
    record = summarise_run("now", "run", "s", "m", NOW, started_at=10, finished_at=11)
    summary = run_summary(record, comparison, runs[:1], NOW, spec="trailing:1", cfg=cfg)
    summary.update(verdict=comparison.verdict.value, exit_code=0)
    return summary, comparison, [*runs, record]


def test_summary_is_json_and_lists_flips_and_errors():
    summary, comparison, _ = build()
    text = json.dumps(summary)
    back = json.loads(text)
    assert back["counts"] == {"items": 4, "pass": 2, "fail": 1, "error": 1, "skipped": 0}
    assert back["baseline"]["n_paired"] == 3
    assert back["changes"] == {"newly_failing": ["q0"], "newly_passing": ["q3"]}
    assert back["errors"] == [{"id": "q2", "detail": "d"}]
    assert back["regression"]["mcnemar"] == {"b": 1.0, "c": 1.0, "mid_p_one_sided": comparison.mcnemar_p}


def test_changes_treat_a_half_pass_rate_as_passing():
    assert changes([item(0, Outcome.FAIL, "x")], {"q0#h": 0.5})["newly_failing"] == ["q0"]
    assert changes([item(0, Outcome.FAIL, "x")], {"q0#h": 0.34})["newly_failing"] == []


def test_inline_diff_marks_insertions_and_deletions_and_escapes():
    html = inline_diff("Paris", "Pa<r>is!")
    assert "<ins>&lt;</ins>" in html and "<ins>&gt;</ins>" in html and "<ins>!</ins>" in html
    assert inline_diff("abc", "abc") == "abc"
    assert "<del>b</del>" in inline_diff("abc", "ac")


def test_trend_svg_plots_every_run_and_marks_regressions():
    _, _, runs = build()
    svg = trend_svg(runs)
    assert svg.startswith("<svg") and "<polyline" in svg
    assert svg.count("<circle") == 4
    assert svg.count('fill="#c62828"') == 1
    assert "No scored runs" in trend_svg([])


def test_html_report_is_self_contained_with_diffs_and_trend():
    summary, comparison, runs = build()
    page = render_run_report(summary, NOW, {r.key: r for r in BEFORE}, runs, comparison.baseline_rate_by_item)
    assert page.startswith("<!doctype html>")
    # No scripts, no stylesheets or images from elsewhere: the only URL is the SVG namespace.
    assert "<script" not in page and "<link" not in page and "<img" not in page
    assert re.findall(r"https?://[^\"' ]+", page) == ["http://www.w3.org/2000/svg"]
    assert "<svg" in page
    # The newly failing item comes first, its answer escaped, and diffed against the baseline answer.
    rows = page.split("<tr><td>")[1:]
    assert rows[0].startswith("q0") and rows[1].startswith("q2") and rows[2].startswith("q3")
    assert "<del>Paris</del><ins>Lyon &lt;b&gt;</ins>" in rows[0]  # baseline answer → now, escaped
    assert "<b>" not in page.split("<h2>Items")[1]  # model output never becomes markup
    assert "100% pass" in rows[0]
