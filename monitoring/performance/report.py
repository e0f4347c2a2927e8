"""The performance report as one self-contained HTML page (inline SVG and CSS, no script, no network). Pure.

html = render_html(outcome.summary, outcome.results)
"""

from __future__ import annotations

from html import escape
from typing import Any

from monitoring.performance.chart import auc_chart
from monitoring.performance.evaluate import WindowResult

__all__ = ["render_html"]

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 980px; color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
.verdict { padding: .6rem 1rem; border-radius: 6px; font-weight: 600; }
.ok { background: #e6f4ea; color: #1e6b34; } .bad { background: #fdecea; color: #a12a1f; }
table { border-collapse: collapse; width: 100%; font-size: .85rem; margin-top: .5rem; }
th, td { border-bottom: 1px solid #e3e3e3; padding: .3rem .45rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.est, th.est { color: #a8641d; font-style: italic; }
.note { color: #555; font-size: .85rem; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }
dt { color: #555; }
"""


def _f(v: float | None, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v:.0%}"


def _interval(v: float | None, lo: float | None, hi: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:.3f} [{_f(lo)}, {_f(hi)}]" if lo is not None and hi is not None else f"{v:.3f}"


def _rows(results: list[WindowResult]) -> str:
    out = []
    for r in sorted(results, key=lambda r: r.start, reverse=True):
        e = r.estimate
        mark = " ⚠" if r.below_limit else ("" if r.gated else " (not gated)")
        out.append(
            "<tr>"
            f"<td>{escape(r.start.strftime('%Y-%m-%d'))}</td>"
            f"<td>{r.n_predictions}</td><td>{_pct(r.coverage)}</td><td>{r.n_labeled}</td><td>{r.n_pending}</td>"
            f"<td>{escape(_interval(r.auc, r.auc_low, r.auc_high))}{escape(mark)}</td>"
            f'<td class="est">{escape(_interval(e.auc, e.auc_low, e.auc_high)) if e else "–"}</td>'
            f"<td>{_f(r.precision)}</td><td>{_f(r.recall)}</td><td>{_f(r.f1)}</td><td>{_f(r.accuracy)}</td>"
            f'<td class="est">{escape(_interval(e.accuracy, e.accuracy_low, e.accuracy_high)) if e else "–"}'
            "</td>"
            "</tr>"
        )
    return "\n".join(out)


def render_html(summary: dict[str, Any], results: list[WindowResult]) -> str:
    """The page: verdict, reference, one chart and one table per model version, and how to read them."""
    ref = summary["reference"]
    settings = summary["settings"]
    breaches = summary["breaches"]
    verdict = (
        '<p class="verdict ok">OK: no gated window is below the validation AUC minus '
        f"{settings['auc_drop']:.2f}.</p>"
        if not breaches
        else '<p class="verdict bad">AUC DROP: '
        + "; ".join(
            escape(
                f"{b['model_version']}, window of {b['window_start'][:10]}: "
                f"AUC {b['auc']:.3f} < {b['limit']:.3f}"
            )
            for b in breaches
        )
        + "</p>"
    )
    sections = []
    for version in sorted({r.model_version for r in results}):
        mine = [r for r in results if r.model_version == version]
        val_auc = ref["validation_auc"] if version == ref["model_version"] else None
        chart = auc_chart(
            mine, validation_auc=val_auc, auc_drop=settings["auc_drop"], title=f"ROC AUC of {version}"
        )
        no_ref = (
            ""
            if val_auc is not None
            else '<p class="note">No artifact for this version: no reference, gate or estimate.</p>'
        )
        sections.append(
            f"<h2>{escape(version)}</h2>{no_ref}{chart}"
            "<table><thead><tr><th>window</th><th>predictions</th><th>coverage</th><th>labels</th>"
            '<th>pending</th><th>AUC [95% CI]</th><th class="est">est. AUC</th><th>precision</th>'
            "<th>recall</th>"
            '<th>F1</th><th>accuracy</th><th class="est">est. accuracy</th></tr></thead>'
            f"<tbody>{_rows(mine)}</tbody></table>"
        )
    period = summary["period"]
    body = "\n".join(sections) or '<p class="note">No predictions in the period.</p>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>modelgate — churn model performance</title>
<style>{_CSS}</style></head><body>
<h1>Churn model performance after labels</h1>
{verdict}
<dl>
<dt>period</dt><dd>{escape(period["start"][:16])} → {escape(period["end"][:16])} UTC,
{escape(summary["window"])} windows</dd>
<dt>artifact</dt><dd>{escape(ref["model_version"])}: train AUC {_f(ref["train_auc"])}, validation AUC
{_f(ref["validation_auc"])}, threshold {_f(ref["threshold"], 2)}</dd>
<dt>gate</dt><dd>the latest window with ≥ {settings["min_labels"]} labels (both outcomes) and ≤
{settings["max_pending_share"]:.0%} still pending, below validation AUC − {settings["auc_drop"]}</dd>
<dt>labels</dt><dd>outcome known within {settings["horizon_days"]} + {settings["delay_allowance_days"]}
days of the prediction</dd>
</dl>
{body}
<p class="note">Realised metrics use the predictions whose label has arrived; precision, recall and F1
are at the served decision (the artifact's threshold). <em>Estimated</em> values (orange, italic) need no
labels: they come from the model's calibrated probabilities ({escape(settings["calibration"])} calibration
on the validation split) and their interval says where the realised value should land. They assume the
relation between features and churn has not changed: under concept drift the realised AUC falls and the
estimate does not follow. See docs/labels.md.</p>
</body></html>
"""
