"""An inline SVG chart of AUC over windows: realised vs estimated vs validation, and label coverage. Pure.

No JavaScript and no external assets, so the report opens offline and survives being mailed around.
Upper panel: realised AUC (solid, with its bootstrap band; hollow markers where a window has too few
labels to be gated, red where it is below the gate), the label-free estimate (dashed, with its band),
the validation AUC and the gate line. Lower panel: label coverage per window. Windows still waiting for
most of their labels are shaded, so the eye sees where only the estimate can speak.

    svg = auc_chart(results_of_one_version, validation_auc=0.83, auc_drop=0.05)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from monitoring.performance.evaluate import WindowResult

__all__ = ["auc_chart"]

_W, _H = 920, 430
_LEFT, _RIGHT, _TOP = 64, 24, 48
_AUC_H, _GAP, _COV_H = 250, 34, 70
_REAL, _EST, _REF, _GATE = "#1f5fbf", "#d9822b", "#555555", "#c0392b"


@dataclass(frozen=True)
class _Scale:
    lo: float
    hi: float
    top: float
    height: float

    def y(self, value: float) -> float:
        return self.top + (self.hi - value) / (self.hi - self.lo) * self.height


def _fmt(v: float | None, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _auc_range(
    results: Sequence[WindowResult], validation_auc: float | None, limit: float | None
) -> tuple[float, float]:
    values = [validation_auc, limit]
    for r in results:
        values += [r.auc, r.auc_low, r.auc_high]
        if r.estimate is not None:
            values += [r.estimate.auc, r.estimate.auc_low, r.estimate.auc_high]
    present = [v for v in values if v is not None]
    if not present:
        return 0.5, 1.0
    # Whole 0.05 steps with at least 0.01 of air around the data.
    lo = max(0.0, math.floor((min(present) - 0.01) * 20) / 20)
    hi = min(1.0, math.ceil((max(present) + 0.01) * 20) / 20)
    return lo, max(hi, lo + 0.1)


def _path(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))


def _band(xs: list[float], lows: list[float], highs: list[float], scale: _Scale, color: str) -> str:
    if len(xs) < 2:
        return ""
    upper = [(x, scale.y(h)) for x, h in zip(xs, highs, strict=True)]
    lower = [(x, scale.y(lo)) for x, lo in zip(xs, lows, strict=True)][::-1]
    return f'<path d="{_path(upper + lower)} Z" fill="{color}" fill-opacity="0.15" stroke="none"/>'


def _segments(points: list[tuple[float, float] | None]) -> list[list[tuple[float, float]]]:
    """Split a series at missing values, so a gap is drawn as a gap, not bridged."""
    runs: list[list[tuple[float, float]]] = [[]]
    for p in points:
        if p is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(p)
    return [r for r in runs if r]


def auc_chart(
    results: Sequence[WindowResult],
    *,
    validation_auc: float | None,
    auc_drop: float,
    title: str = "",
) -> str:
    """The SVG (a string) for ONE model version's windows, oldest first."""
    rows = sorted(results, key=lambda r: r.start)
    plot_w = _W - _LEFT - _RIGHT
    step = plot_w / max(len(rows), 1)
    xs = [_LEFT + step * (i + 0.5) for i in range(len(rows))]
    limit = validation_auc - auc_drop if validation_auc is not None else None
    lo, hi = _auc_range(rows, validation_auc, limit)
    auc_s = _Scale(lo, hi, _TOP, _AUC_H)
    cov_top = _TOP + _AUC_H + _GAP
    cov_s = _Scale(0.0, 1.0, cov_top, _COV_H)
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" width="100%" role="img" '
        f'font-family="system-ui, sans-serif" font-size="12">',
        f"<title>{escape(title or 'ROC AUC over time')}</title>",
    ]
    # Windows still mostly waiting for labels: only the estimate speaks for them.
    for x, r in zip(xs, rows, strict=True):
        if r.n_pending > r.n_predictions / 2:
            out.append(
                f'<rect x="{x - step / 2:.1f}" y="{_TOP}" width="{step:.1f}" height="{_AUC_H}" '
                f'fill="#eeeeee"><title>labels still pending for {r.n_pending} of {r.n_predictions} '
                "predictions</title></rect>"
            )
    first_pending = next((i for i, r in enumerate(rows) if r.n_pending > r.n_predictions / 2), None)
    if first_pending is not None:
        out.append(
            f'<text x="{xs[first_pending] - step / 2 + 6:.1f}" y="{_TOP + 16}" fill="#666">'
            "labels pending: estimate only</text>"
        )
    # Grid and axes.
    tick = lo
    while tick <= hi + 1e-9:
        y = auc_s.y(tick)
        out.append(f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#dddddd"/>')
        out.append(f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#444">{tick:.2f}</text>')
        tick += 0.05
    out.append(
        f'<text x="14" y="{_TOP + _AUC_H / 2:.0f}" transform="rotate(-90 14 {_TOP + _AUC_H / 2:.0f})" '
        'text-anchor="middle" fill="#444">ROC AUC</text>'
    )
    if validation_auc is not None and limit is not None:
        for value, color, dash, text in (
            (validation_auc, _REF, "", f"validation {validation_auc:.3f}"),
            (limit, _GATE, ' stroke-dasharray="2 4"', f"gate {limit:.3f}"),
        ):
            y = auc_s.y(value)
            out.append(
                f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{color}" '
                f'stroke-width="1.5"{dash}/>'
            )
            out.append(
                f'<text x="{_W - _RIGHT - 4}" y="{y - 5:.1f}" text-anchor="end" fill="{color}">{text}</text>'
            )
    out += _estimate_series(xs, rows, auc_s)
    out += _realised_series(xs, rows, auc_s)
    out += _coverage_panel(xs, rows, step, cov_s)
    out += _x_labels(xs, rows, cov_top + _COV_H)
    out.append(_legend())
    out.append("</svg>")
    return "\n".join(out)


def _estimate_series(xs: list[float], rows: list[WindowResult], s: _Scale) -> list[str]:
    pts = [
        (x, r.estimate) for x, r in zip(xs, rows, strict=True) if r.estimate and r.estimate.auc is not None
    ]
    banded = [(x, e) for x, e in pts if e is not None and e.auc_low is not None and e.auc_high is not None]
    out = [
        _band(
            [x for x, _ in banded],
            [e.auc_low for _, e in banded if e.auc_low is not None],
            [e.auc_high for _, e in banded if e.auc_high is not None],
            s,
            _EST,
        )
    ]
    line = [(x, s.y(e.auc)) for x, e in pts if e is not None and e.auc is not None]
    if len(line) > 1:
        out.append(
            f'<path d="{_path(line)}" fill="none" stroke="{_EST}" stroke-width="2" stroke-dasharray="6 4"/>'
        )
    for x, e in pts:
        if e is None or e.auc is None:
            continue
        tip = f"estimated AUC {e.auc:.3f} [{_fmt(e.auc_low)}, {_fmt(e.auc_high)}] (no labels needed)"
        out.append(
            f'<rect x="{x - 3:.1f}" y="{s.y(e.auc) - 3:.1f}" width="6" height="6" fill="{_EST}">'
            f"<title>{escape(tip)}</title></rect>"
        )
    return out


def _realised_series(xs: list[float], rows: list[WindowResult], s: _Scale) -> list[str]:
    gated = [(x, r) for x, r in zip(xs, rows, strict=True) if r.gated and r.auc is not None]
    banded = [(x, r) for x, r in gated if r.auc_low is not None and r.auc_high is not None]
    out = [
        _band(
            [x for x, _ in banded],
            [r.auc_low for _, r in banded if r.auc_low is not None],
            [r.auc_high for _, r in banded if r.auc_high is not None],
            s,
            _REAL,
        )
    ]
    enough_by_x = {x: r for x, r in gated}
    points = [
        (x, s.y(r.auc)) if x in enough_by_x and r.auc is not None else None
        for x, r in zip(xs, rows, strict=True)
    ]
    for run in _segments(points):
        if len(run) > 1:
            out.append(f'<path d="{_path(run)}" fill="none" stroke="{_REAL}" stroke-width="2.5"/>')
    for x, r in zip(xs, rows, strict=True):
        if r.auc is None:
            continue
        fill = _GATE if r.below_limit else (_REAL if r.gated else "white")
        tip = (
            f"realised AUC {r.auc:.3f} [{_fmt(r.auc_low)}, {_fmt(r.auc_high)}] from {r.n_labeled} labels"
            + ("" if r.gated else " (not gated: too few labels, or many still pending)")
        )
        out.append(
            f'<circle cx="{x:.1f}" cy="{s.y(r.auc):.1f}" r="4.5" fill="{fill}" stroke="{_REAL}" '
            'stroke-width="1.5">'
            f"<title>{escape(tip)}</title></circle>"
        )
    return out


def _coverage_panel(xs: list[float], rows: list[WindowResult], step: float, s: _Scale) -> list[str]:
    out = [
        f'<text x="{_LEFT}" y="{s.top - 8:.0f}" fill="#444">'
        "label coverage (share of predictions with a label)</text>",
        f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{s.y(0):.1f}" y2="{s.y(0):.1f}" stroke="#999"/>',
        f'<text x="{_LEFT - 6}" y="{s.y(1) + 4:.1f}" text-anchor="end" fill="#444">100%</text>',
        f'<text x="{_LEFT - 6}" y="{s.y(0) + 4:.1f}" text-anchor="end" fill="#444">0%</text>',
    ]
    width = max(step * 0.6, 1.0)
    for x, r in zip(xs, rows, strict=True):
        top = s.y(r.coverage)
        tip = f"{r.coverage:.0%} labelled ({r.n_labeled}/{r.n_predictions}), {r.n_pending} pending"
        out.append(
            f'<rect x="{x - width / 2:.1f}" y="{top:.1f}" width="{width:.1f}" height="{s.y(0) - top:.1f}" '
            f'fill="#7f9cc9"><title>{escape(tip)}</title></rect>'
        )
    return out


def _x_labels(xs: list[float], rows: list[WindowResult], y: float) -> list[str]:
    every = max(1, len(rows) // 12)  # at most ~12 labels, whatever the number of windows
    return [
        f'<text x="{x:.1f}" y="{y + 16:.1f}" text-anchor="middle" fill="#444">'
        f"{r.start.strftime('%m-%d')}</text>"
        for i, (x, r) in enumerate(zip(xs, rows, strict=True))
        if i % every == 0
    ]


def _legend() -> str:
    items = [
        (
            f'<line x1="0" x2="22" y1="0" y2="0" stroke="{_REAL}" stroke-width="2.5"/>',
            "realised AUC (labels)",
        ),
        (
            f'<line x1="0" x2="22" y1="0" y2="0" stroke="{_EST}" stroke-width="2" stroke-dasharray="6 4"/>',
            "estimated AUC (no labels, CBPE)",
        ),
        (f'<line x1="0" x2="22" y1="0" y2="0" stroke="{_REF}" stroke-width="1.5"/>', "validation AUC"),
        (
            f'<line x1="0" x2="22" y1="0" y2="0" stroke="{_GATE}" stroke-width="1.5" '
            'stroke-dasharray="2 4"/>',
            "gate",
        ),
        ('<rect x="4" y="-6" width="14" height="12" fill="#eeeeee"/>', "labels pending"),
    ]
    out, x = ['<g transform="translate(64 20)">'], 0
    for mark, text in items:
        out.append(
            f'<g transform="translate({x} 0)">{mark}<text x="28" y="4" fill="#333">{escape(text)}</text></g>'
        )
        x += 34 + 7 * len(text)
    out.append("</g>")
    return "".join(out)
