"""The HTML report of an eval run: one self-contained file (inline CSS and SVG, no scripts, no CDN).

It shows the verdict and the numbers behind it, the score trend over the suite's recent runs as an
inline SVG line (for pass/fail suites the score is the pass rate), and a table of items — flipped and
erroring items first — with expected vs got and the baseline's answer vs now, differences marked.

    html = render_run_report(summary, results, baseline_items, trend, baseline_rates)
"""

from __future__ import annotations

import difflib
import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from evals.records import ItemResult, RunRecord
from evals.scorers import Outcome

__all__ = ["inline_diff", "render_run_report", "trend_svg"]

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;width:100%}
td,th{border:1px solid #ddd;padding:4px 6px;vertical-align:top;text-align:left}
th{background:#f4f4f4}.num{text-align:right}
pre{margin:0;white-space:pre-wrap;font:12px/1.3 ui-monospace,monospace}
.badge{display:inline-block;padding:2px 8px;border-radius:4px;color:#fff;font-weight:600}
.regressed,.fail,.error{background:#c62828}.ok,.pass{background:#2e7d32}.no_baseline,.skipped{background:#757575}
.error{background:#ef6c00}del{background:#fdd;text-decoration:none}ins{background:#dfd;text-decoration:none}
.muted{color:#777}
"""


def inline_diff(before: str, after: str) -> str:
    """`after` as HTML, with text not in `before` in <ins> and removed text in <del>."""
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    parts: list[str] = []
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            parts.append(html.escape(after[b0:b1]))
            continue
        if op in ("delete", "replace"):
            parts.append(f"<del>{html.escape(before[a0:a1])}</del>")
        if op in ("insert", "replace"):
            parts.append(f"<ins>{html.escape(after[b0:b1])}</ins>")
    return "".join(parts)


def trend_svg(runs: Sequence[RunRecord], width: int = 640, height: int = 160) -> str:
    """Mean score of `runs` (oldest first) as an inline SVG line; regressed runs drawn in red.

    For pass/fail suites the mean score is the pass rate; for judged suites it is the mean judge score.
    """
    points = [(r, r.score) for r in runs if r.score is not None]
    if not points:
        return '<p class="muted">No scored runs yet.</p>'
    pad = 28
    lo = min(0.5, min(v for _, v in points))
    span = max(1.0 - lo, 1e-9)
    step = (width - 2 * pad) / max(len(points) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return pad + i * step, pad / 2 + (1 - (v - lo) / span) * (height - pad * 1.5)

    coords = [xy(i, v) for i, (_, v) in enumerate(points)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dots = []
    for (run, value), (x, y) in zip(points, coords, strict=True):
        colour = "#c62828" if run.verdict == "regressed" else "#1565c0"
        title = html.escape(f"{run.run_id}: score {value:.3f} ({run.verdict or 'no verdict'})")
        dots.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"><title>{title}</title></circle>'
        )
    y_top, y_bottom = xy(0, 1.0)[1], xy(0, lo)[1]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="score trend">'
        f'<line x1="{pad}" y1="{y_top:.1f}" x2="{width - pad}" y2="{y_top:.1f}" stroke="#eee"/>'
        f'<line x1="{pad}" y1="{y_bottom:.1f}" x2="{width - pad}" y2="{y_bottom:.1f}" stroke="#eee"/>'
        f'<text x="2" y="{y_top + 4:.1f}" font-size="10">100%</text>'
        f'<text x="2" y="{y_bottom + 4:.1f}" font-size="10">{lo:.0%}</text>'
        f'<polyline points="{line}" fill="none" stroke="#1565c0" stroke-width="2"/>{"".join(dots)}</svg>'
    )


def _badge(value: str) -> str:
    return f'<span class="badge {html.escape(value)}">{html.escape(value)}</span>'


def _fmt(value: Any, pct: bool = False) -> str:
    if value is None:
        return "–"
    if pct:
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _expected_text(expected: Any) -> str:
    return expected if isinstance(expected, str) else json.dumps(expected, ensure_ascii=False)


def _order(result: ItemResult, rates: Mapping[str, float]) -> int:
    rate = rates.get(result.key)
    if result.outcome is Outcome.FAIL and rate is not None and rate >= 0.5:
        return 0  # newly failing
    if result.outcome is Outcome.ERROR:
        return 1
    if result.outcome is Outcome.PASS and rate is not None and rate < 0.5:
        return 2  # newly passing
    return 3 if result.outcome is Outcome.FAIL else 4


def _item_rows(
    results: Sequence[ItemResult], rates: Mapping[str, float], baseline_items: Mapping[str, ItemResult]
) -> str:
    rows = []
    for r in sorted(results, key=lambda r: (_order(r, rates), r.item_id)):
        expected = _expected_text(r.expected) if r.expected is not None else ""
        before = baseline_items.get(r.key)
        rate = rates.get(r.key)
        base_cell = "–" if rate is None else f"{rate:.0%} pass"
        if before is not None:
            base_cell += f"<pre>{html.escape(before.output)}</pre>"
        now = inline_diff(before.output, r.output) if before is not None else html.escape(r.output)
        rows.append(
            f"<tr><td>{html.escape(r.item_id)}<div class='muted'>{html.escape(', '.join(r.tags))}</div></td>"
            f"<td>{_badge(r.outcome.value)}<div class='muted'>{html.escape(r.detail)}</div></td>"
            f"<td>{base_cell}</td><td><pre>{now}</pre></td>"
            f"<td><pre>{html.escape(expected)}</pre></td>"
            f"<td><pre>{inline_diff(expected, r.output) if expected else ''}</pre></td></tr>"
        )
    return "\n".join(rows)


def render_run_report(
    summary: Mapping[str, Any],
    results: Sequence[ItemResult],
    baseline_items: Mapping[str, ItemResult],
    trend: Sequence[RunRecord],
    baseline_rates: Mapping[str, float],
) -> str:
    """The report page. `baseline_items` holds the newest baseline run's result per item key."""
    reg = summary["regression"]
    mc = reg["mcnemar"]
    counts = summary["counts"]
    title = f"eval {summary['suite']} · {summary['model']}"
    facts = [
        ("verdict", _badge(reg["verdict"])),
        ("pass rate now", _fmt(summary["pass_rate"], pct=True)),
        ("baseline pass rate", _fmt(summary["baseline"]["pass_rate"], pct=True)),
        (
            "baseline",
            f"{html.escape(summary['baseline']['spec'])}, {len(summary['baseline']['run_ids'])} runs",
        ),
        ("paired items", _fmt(summary["baseline"]["n_paired"])),
        (
            "McNemar b / c / mid-p",
            f"{mc['b']:.1f} / {mc['c']:.1f} / {mc['mid_p_one_sided']:.3g}",
        ),
        ("bars", f"drop ≥ {reg['min_effect']:.0%} and p ≤ {reg['alpha']}"),
        ("mean score", _fmt(summary["score"])),
        ("items pass / fail / error", f"{counts['pass']} / {counts['fail']} / {counts['error']}"),
        ("tokens in / out", f"{summary['tokens']['input']} / {summary['tokens']['output']}"),
        ("cost (USD)", _fmt(summary["cost_usd"])),
        (
            "latency p50 / p95 (s)",
            f"{_fmt(summary['latency_s']['p50'])} / {_fmt(summary['latency_s']['p95'])}",
        ),
    ]
    if reg["graded"]:
        facts.append(("score drop (bootstrap p)", f"{reg['score_drop']:.3f} ({_fmt(reg['bootstrap_p'])})"))
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in reg["reasons"])
    fact_rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in facts)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="muted">run {html.escape(summary["run_id"])} · status {html.escape(summary["status"])}</p>
<table style="width:auto">{fact_rows}</table>
{f"<ul>{reasons}</ul>" if reasons else ""}
<h2>Score across runs</h2>
{trend_svg(trend)}
<h2>Items</h2>
<p class="muted">Flipped and erroring items first. "now" marks what changed against the newest baseline
answer; the last column marks the answer against the expected text.</p>
<table>
<tr><th>item</th><th>outcome</th><th>baseline</th><th>now</th><th>expected</th><th>expected → got</th></tr>
{_item_rows(results, baseline_rates, baseline_items)}
</table>
</body></html>
"""
