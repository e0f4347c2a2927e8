"""The JSON summary of an eval run (what `--json FILE` writes and the HTML report shows). Pure.

summary = run_summary(record, comparison, baseline_runs, results, baseline_items, spec="trailing:3")
summary["regression"]["verdict"], summary["changes"]["newly_failing"]
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from evals.records import ItemResult, RunRecord
from evals.regression import Comparison, RegressionConfig, UnpairedComparison
from evals.scorers import Outcome

__all__ = ["changes", "history_lines", "run_summary", "sample_summary"]

MAX_LISTED = 50


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def _run_fields(record: RunRecord) -> dict[str, Any]:
    return {
        "run_id": record.run_id,
        "kind": record.kind,
        "suite": record.suite,
        "model": record.model,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "status": record.status,
        "counts": {
            "items": record.n_items,
            "pass": record.n_pass,
            "fail": record.n_fail,
            "error": record.n_error,
            "skipped": record.n_skipped,
        },
        "pass_rate": record.pass_rate,
        "score": record.score,
        "tokens": {"input": record.input_tokens, "output": record.output_tokens},
        "cost_usd": record.cost_usd,
        "latency_s": {"p50": record.latency_p50_s, "p95": record.latency_p95_s},
    }


def changes(results: Sequence[ItemResult], baseline_rates: Mapping[str, float]) -> dict[str, list[str]]:
    """Item ids that flipped against the baseline (a baseline pass rate of one half or more is 'passing')."""
    failing = [
        r.item_id for r in results if r.outcome is Outcome.FAIL and baseline_rates.get(r.key, 0) >= 0.5
    ]
    passing = [r.item_id for r in results if r.outcome is Outcome.PASS and baseline_rates.get(r.key, 1) < 0.5]
    return {"newly_failing": failing[:MAX_LISTED], "newly_passing": passing[:MAX_LISTED]}


def run_summary(
    record: RunRecord,
    comparison: Comparison,
    baseline_runs: Sequence[RunRecord],
    results: Sequence[ItemResult],
    *,
    spec: str,
    cfg: RegressionConfig,
) -> dict[str, Any]:
    """The whole JSON summary of a suite run."""
    return {
        **_run_fields(record),
        "baseline": {
            "spec": spec,
            "run_ids": [r.run_id for r in baseline_runs],
            "n_paired": comparison.n_paired,
            "pass_rate": _finite(comparison.baseline_pass_rate),
        },
        "regression": {
            "verdict": comparison.verdict.value,
            "alpha": cfg.alpha,
            "min_effect": cfg.min_effect,
            "pass_drop": comparison.pass_drop,
            "mcnemar": {"b": comparison.b, "c": comparison.c, "mid_p_one_sided": comparison.mcnemar_p},
            "graded": comparison.graded,
            "score_drop": comparison.score_drop,
            "score_diff_ci95": list(comparison.score_ci) if comparison.graded else None,
            "bootstrap_p": comparison.bootstrap_p,
            "reasons": list(comparison.reasons),
        },
        "changes": changes(results, comparison.baseline_rate_by_item),
        "errors": [{"id": r.item_id, "detail": r.detail} for r in results if r.outcome is Outcome.ERROR][
            :MAX_LISTED
        ],
    }


def sample_summary(
    record: RunRecord,
    comparison: UnpairedComparison,
    baseline_runs: Sequence[RunRecord],
    *,
    spec: str,
    rate: float,
) -> dict[str, Any]:
    """The JSON summary of a judged production sample for one model."""
    regression = asdict(comparison)
    regression["verdict"] = comparison.verdict.value
    regression["reasons"] = list(comparison.reasons)
    for key in ("current_mean", "baseline_mean"):
        regression[key] = _finite(regression[key])
    return {
        **_run_fields(record),
        "sample_rate": rate,
        "baseline": {"spec": spec, "run_ids": [r.run_id for r in baseline_runs]},
        "regression": regression,
    }


def history_lines(runs: Sequence[RunRecord]) -> list[str]:
    """`modelgate eval history`: one line per run."""
    lines = []
    for run in runs:
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(run.started_at))
        rate = f"{run.pass_rate:.1%}" if run.pass_rate is not None else "n/a"
        score = f"{run.score:.3f}" if run.score is not None else "n/a"
        lines.append(
            f"{when}  {run.run_id}  {run.kind:<6} {run.suite:<12} {run.model:<20} pass {rate:>6}  "
            f"score {score}  err {run.n_error:>3}  {run.verdict}"
        )
    return lines
