"""What a run produces: one `ItemResult` per item and a `RunRecord` summarising them. Pure data + math.

record = summarise_run(run_id, "run", "core", "my-model", results, started_at=t0, finished_at=t1)
record.pass_rate, record.n_error, record.cost_usd
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evals.regression import ItemOutcome
from evals.scorers import Outcome

__all__ = ["ItemResult", "RunRecord", "outcomes_by_key", "summarise_run"]


@dataclass(frozen=True)
class ItemResult:
    """One item in one run. `key` is `<id>#<content hash>`; `score` is None exactly for ERROR."""

    item_id: str
    key: str
    outcome: Outcome
    score: float | None
    output: str = ""
    expected: Any = None
    detail: str = ""
    latency_s: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    attempts: int = 1
    cached: bool = False
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunRecord:
    """One run in the history: which suite and model, when, how it went, and the verdict."""

    run_id: str
    kind: str  # "run" (an eval suite) or "sample" (judged production traffic)
    suite: str
    model: str
    started_at: float
    finished_at: float
    status: str  # "complete", or "incomplete" when too many items errored (never used as a baseline)
    n_items: int
    n_pass: int
    n_fail: int
    n_error: int
    n_skipped: int = 0
    score: float | None = None
    pass_rate: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    verdict: str = ""
    suite_digest: str = ""
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def error_rate(self) -> float:
        return self.n_error / self.n_items if self.n_items else 0.0


def summarise_run(
    run_id: str,
    kind: str,
    suite: str,
    model: str,
    results: Sequence[ItemResult],
    *,
    started_at: float,
    finished_at: float,
    max_error_rate: float = 1.0,
    n_skipped: int = 0,
    suite_digest: str = "",
) -> RunRecord:
    """Counts, rates, tokens, cost and latency percentiles of a run's results."""
    n_pass = sum(r.outcome is Outcome.PASS for r in results)
    n_fail = sum(r.outcome is Outcome.FAIL for r in results)
    n_error = len(results) - n_pass - n_fail
    scored = [r.score for r in results if r.score is not None]
    costs = [r.cost_usd for r in results if r.cost_usd is not None]
    asked = [r.latency_s for r in results if not r.cached and r.outcome is not Outcome.ERROR]
    p50, p95 = (float(v) for v in np.percentile(asked, [50, 95])) if asked else (None, None)
    error_rate = n_error / len(results) if results else 1.0
    return RunRecord(
        run_id=run_id,
        kind=kind,
        suite=suite,
        model=model,
        started_at=started_at,
        finished_at=finished_at,
        status="complete" if results and error_rate <= max_error_rate else "incomplete",
        n_items=len(results),
        n_pass=n_pass,
        n_fail=n_fail,
        n_error=n_error,
        n_skipped=n_skipped,
        score=sum(scored) / len(scored) if scored else None,
        pass_rate=n_pass / (n_pass + n_fail) if n_pass + n_fail else None,
        input_tokens=sum(r.input_tokens for r in results),
        output_tokens=sum(r.output_tokens for r in results),
        cost_usd=sum(costs) if costs else None,
        latency_p50_s=p50,
        latency_p95_s=p95,
        suite_digest=suite_digest,
    )


def outcomes_by_key(results: Sequence[ItemResult]) -> dict[str, ItemOutcome]:
    """The regression test's view of a run: key → (passed, score), ERROR items left out."""
    return {r.key: ItemOutcome(r.outcome is Outcome.PASS, r.score) for r in results if r.score is not None}
