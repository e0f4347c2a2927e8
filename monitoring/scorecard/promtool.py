"""Evaluate the project's real rules over a generated month with `promtool test rules`, and read the result.

promtool's unit-test runner is Prometheus's own rule engine: it loads recording_rules.yml and alerts.yml,
evaluates every group in order at each step (two minutes here, see STEP), honours `for:`, writes the `ALERTS`
series, all over input series given one sample a minute. Nothing is asserted: each question is a
`promql_expr_test` expecting no samples, so promtool prints what it got, and that is the answer:

- first firing of each alert inside a window: `min_over_time(timestamp(ALERTS{alertstate="firing"})[W:2m])`
- onsets inside a window: `sum_over_time((firing unless firing offset 2m)[W:2m])`

    answers = evaluate(store, [Query("f1", "first", start=120, end=300)], for_override=None)
    answers["f1"]      # [({"alertname": "HighErrorRate", "backend": "churn", ...}, 7260.0)]
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from monitoring.scorecard.series import SeriesStore
from monitoring.stack.prometheus import RULE_FILES, write_rules

__all__ = ["PromtoolError", "Query", "evaluate", "format_values", "parse_samples", "read_answers"]

FIRING = 'ALERTS{alertstate="firing"}'
# promtool's unit-test engine caps one query at 10,000 samples. Evaluating every minute, the 7-day
# baselines (`avg_over_time(<per-step record>[7d] offset 1d)`) would read 10,080 samples of a recorded
# series; every two minutes they read 5,040. Input series stay one sample a minute.
STEP = "2m"
_EXPR = re.compile(r'^\s*expr: "(?P<expr>.*)", time: (?P<time>\S+),?$')
_ERR = re.compile(r'^\s*expr: "(?P<expr>.*)", time: (?P<time>[^,\s]+), err: (?P<err>.*)$')
_GOT = re.compile(r"^\s*got: (?P<body>.*)$")
# One `{labels} value` of a `got:` line that lists several, comma-separated: the label set is matched up
# to its own closing brace (quoted values may hold braces), never greedily across samples.
_SAMPLE = re.compile(r'\{(?P<labels>(?:[^{}"]|"(?:[^"\\]|\\.)*")*)\} (?P<value>[^,\s]+)')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


class PromtoolError(RuntimeError):
    """promtool is missing, or failed for a reason other than the expected mismatches."""


@dataclass(frozen=True)
class Query:
    """A question about minutes [start, end): the first firing per alert, or the number of onsets."""

    key: str
    what: str  # "first" | "onsets"
    start: int
    end: int
    step: str = STEP  # the evaluation step of the run this query belongs to

    def expr(self) -> str:
        width = f"{self.end - self.start}m"
        if self.what == "first":
            return f"min_over_time(timestamp({FIRING})[{width}:{self.step}])"
        return f"sum_over_time(({FIRING} unless {FIRING} offset {self.step})[{width}:{self.step}])"


def format_values(values: np.ndarray) -> str:
    """promtool's expanded notation: `_` for a missing sample, `a+0xN` for a constant run."""
    if len(values) and np.all(values == values[0]):
        return f"{values[0]:.10g}+0x{len(values) - 1}"
    return " ".join("_" if math.isnan(v) else f"{v:.10g}" for v in values.tolist())


def _test_file(store: SeriesStore, queries: Sequence[Query], rule_dir: Path, step: str) -> dict[str, object]:
    return {
        "rule_files": [str(rule_dir / name) for name in RULE_FILES],
        "evaluation_interval": step,
        # Recording groups before the alert groups, as in tests/alerts: an alert sees this step's records.
        "group_eval_order": _group_order(rule_dir),
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": k, "values": format_values(v)} for k, v in store.series.items()],
                "promql_expr_test": [
                    {"expr": q.expr(), "eval_time": f"{q.end - 1}m", "exp_samples": []} for q in queries
                ],
            }
        ],
    }


def _group_order(rule_dir: Path) -> list[str]:
    names: list[str] = []
    for name in RULE_FILES:
        names += [g["name"] for g in yaml.safe_load((rule_dir / name).read_text())["groups"]]
    return names


def evaluate(
    store: SeriesStore,
    queries: Sequence[Query],
    *,
    for_override: str | None = None,
    step: str = STEP,
    timeout: float = 1800.0,
) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Run promtool once; per query key, the (labels, value) samples it returned (empty when none).
    `step` is the evaluation interval (a short run without week-long baselines may use 1m); the
    queries must have been built with the same step."""
    if any(q.step != step for q in queries):
        raise ValueError(f"every query must use the evaluation step {step}")
    binary = shutil.which("promtool")
    if binary is None:
        raise PromtoolError("promtool is not installed (apt-get install prometheus)")
    with tempfile.TemporaryDirectory(prefix="modelgate-scorecard-") as tmp:
        work = Path(tmp)
        write_rules(work, for_override)
        test = work / "month.test.yml"
        with test.open("w", encoding="utf-8") as fh:
            yaml.safe_dump(_test_file(store, queries, work, step), fh, sort_keys=False, width=1 << 30)
        done = subprocess.run(
            [binary, "test", "rules", str(test)], capture_output=True, text=True, timeout=timeout
        )
    out = done.stdout + done.stderr
    if done.returncode not in (0, 1) or ("FAILED" not in out and "SUCCESS" not in out):
        raise PromtoolError(f"promtool test rules failed: {out.strip()[-2000:]}")
    answers = read_answers(out, queries)
    if "FAILED" in out and not any(answers.values()) and "got:" not in out:
        raise PromtoolError(f"promtool could not evaluate the month: {out.strip()[-2000:]}")
    return answers


def read_answers(out: str, queries: Sequence[Query]) -> dict[str, list[tuple[dict[str, str], float]]]:
    """promtool's report, per query key; PromtoolError when it could not run a query at all."""
    # Two faults may ask the very same question (same window): promtool answers it once, for both.
    by_expr_time: dict[tuple[str, str], list[str]] = {}
    for q in queries:
        by_expr_time.setdefault((q.expr(), f"{q.end - 1}m"), []).append(q.key)
    answers: dict[str, list[tuple[dict[str, str], float]]] = {q.key: [] for q in queries}
    current: list[str] = []
    for line in out.splitlines():
        if (e := _ERR.match(line)) is not None:
            # A query promtool could not run (e.g. over its sample limit) must not read as "no firing".
            raise PromtoolError(f"promtool could not answer {e['expr']} at {e['time']}: {e['err']}")
        if (m := _EXPR.match(line)) is not None:
            expr = m["expr"].encode().decode("unicode_escape")
            current = by_expr_time.get((expr, _minutes(m["time"])), [])
        elif (g := _GOT.match(line)) is not None:
            for key in current:
                answers[key] += parse_samples(g["body"])
    return answers


def parse_samples(body: str) -> list[tuple[dict[str, str], float]]:
    """The samples of one `got:` line: `{a="1"} 2E+00, {a="2"} 3E+00` -> [({"a": "1"}, 2.0), ...]."""
    return [(dict(_LABEL.findall(s["labels"])), float(s["value"])) for s in _SAMPLE.finditer(body)]


def _minutes(duration: str) -> str:
    """promtool prints eval times as Go durations (`1d2h3m` is not used; `26h3m`): back to `<n>m`."""
    total = 0.0
    for value, unit in re.findall(r"([\d.]+)(ms|h|m|s|d|w)", duration):
        total += float(value) * {"w": 10080, "d": 1440, "h": 60, "m": 1, "s": 1 / 60, "ms": 1 / 60000}[unit]
    return f"{round(total)}m"
