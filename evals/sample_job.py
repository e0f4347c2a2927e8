"""`modelgate eval sample`: judge a seeded sample of logged production traffic and track its scores.

Per model in the log: draw rows (evals.llm_log), have the judge score each logged reply through the
gateway, store the scores as a `sample` run of suite `production`, and compare their distribution with the
previous K sample runs of that model (unpaired: a one-sided Mann–Whitney U test plus the effect bar, see
evals.regression). Rows without logged content are counted as skipped and reported.

Exit 0: no regression; 1: some model's judged scores regressed; 2: bad input, or too many judge errors.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from evals.client import RetryPolicy, make_client
from evals.config import EvalsConfig
from evals.errors import BadInput
from evals.export import export_to_langfuse, langfuse_settings, publish_metrics
from evals.history import HistoryStore
from evals.judge import JudgeConfig
from evals.llm_log import SampleDraw, SampleRow, draw_sample, parse_prompt
from evals.records import ItemResult, RunRecord, summarise_run
from evals.regression import Verdict, compare_unpaired, parse_baseline_spec
from evals.report import sample_summary
from evals.run_job import new_run_id, report_paths, write_text
from evals.runner import judge_text
from monitoring.progress import ItemProgress

__all__ = ["SUITE", "SampleRequest", "run_sample"]

SUITE = "production"


@dataclass(frozen=True)
class SampleRequest:
    days: int
    rate: float
    seed: int
    base_url: str
    api_key: str
    concurrency: int
    timeout_s: float
    retries: int
    baseline: str
    max_items: int
    model: str | None = None
    json_path: Path | None = None


async def _judge_rows(
    req: SampleRequest, cfg: EvalsConfig, judge: JudgeConfig, rows: list[SampleRow], err: TextIO
) -> list[ItemResult]:
    policy = RetryPolicy(req.retries, cfg.section.retry_backoff_s, req.timeout_s)
    client = make_client(req.base_url, req.api_key, timeout_s=req.timeout_s)
    gate = asyncio.Semaphore(req.concurrency)
    bar = ItemProgress(len(rows), f"{SUITE} sample", err)

    async def one(row: SampleRow) -> ItemResult:
        async with gate:
            score = await judge_text(
                client,
                judge,
                default_model=row.model,
                prompt=parse_prompt(row.input_messages),
                output=row.output_text,
                reference=None,
                policy=policy,
            )
        bar.advance(score.outcome.value)
        return ItemResult(
            item_id=row.request_id,
            key=row.request_id,
            outcome=score.outcome,
            score=score.value,
            output=row.output_text,
            detail=score.detail,
            tags=(row.tenant,),
        )

    try:
        return list(await asyncio.gather(*(one(r) for r in rows)))
    finally:
        bar.close()
        await client.close()


def _draw(req: SampleRequest, cfg: EvalsConfig) -> SampleDraw:
    return draw_sample(
        cfg.shared.llm_log_uri,
        days=req.days,
        rate=req.rate,
        seed=req.seed,
        max_items=req.max_items,
        exclude_tenants=tuple(cfg.section.sample.exclude_tenants),
        model=req.model,
    )


def run_sample(
    req: SampleRequest, cfg: EvalsConfig, *, environ: Mapping[str, str], out: TextIO, err: TextIO
) -> int:
    """Judge the sample; return the exit code. Raises LogSampleError/BadInput for bad input."""
    try:
        k = parse_baseline_spec(req.baseline)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    started = time.time()
    draw = _draw(req, cfg)
    models = sorted(set(draw.rows) | set(draw.skipped))
    n_drawn = sum(len(r) for r in draw.rows.values())
    out.write(f"{draw.candidates} logged requests in the window; {n_drawn} drawn with content\n")
    for bad in draw.skipped_files:
        err.write(f"warning: skipped unreadable log file {bad}\n")
    if not models:
        out.write("nothing drawn: no requests in the window, or the rate is too low for the traffic\n")
        return 0
    judge = replace(cfg.judge, rubric=cfg.section.sample.rubric)
    everything = [row for m in models for row in draw.rows.get(m, [])]
    judged = asyncio.run(_judge_rows(req, cfg, judge, everything, err)) if everything else []
    by_id = {r.key: r for r in judged}
    summaries: dict[str, Any] = {}
    codes = []
    with HistoryStore.open(cfg.history_path) as store:
        for model in models:
            results = [by_id[row.request_id] for row in draw.rows.get(model, [])]
            code, summary, record = _track(
                store, cfg, req, k, model, results, draw.skipped.get(model, 0), started
            )
            summaries[model] = summary
            codes.append(code)
            _publish(cfg, record, code, environ, results, draw.rows.get(model, []), draw.skipped_files)
            out.write(_headline(record, summary) + "\n")
    body = {
        "days": req.days,
        "rate": req.rate,
        "seed": req.seed,
        "candidates": draw.candidates,
        "skipped_files": list(draw.skipped_files),
        "models": summaries,
    }
    text = json.dumps(body, indent=2, sort_keys=True, default=str)
    default_json, _ = report_paths(cfg.reports_dir, "sample", SUITE, "all")
    for path in {default_json, *([req.json_path] if req.json_path else [])}:
        write_text(path, text)
    return 2 if 2 in codes else 1 if 1 in codes else 0


def _track(
    store: HistoryStore,
    cfg: EvalsConfig,
    req: SampleRequest,
    k: int,
    model: str,
    results: list[ItemResult],
    skipped: int,
    started: float,
) -> tuple[int, dict[str, Any], RunRecord]:
    record = summarise_run(
        new_run_id(started),
        "sample",
        SUITE,
        model,
        results,
        started_at=started,
        finished_at=time.time(),
        max_error_rate=cfg.section.max_error_rate,
        n_skipped=skipped,
    )
    baseline = store.trailing_runs("sample", SUITE, model, k=k, before=started)
    base_scores = [[r.score for r in store.items(b.run_id) if r.score is not None] for b in baseline]
    scores = [r.score for r in results if r.score is not None]
    comparison = compare_unpaired(scores, base_scores, cfg.regression, min_runs=k)
    summary = sample_summary(record, comparison, baseline, spec=req.baseline, rate=req.rate)
    if results and record.status != "complete":
        verdict, code = "incomplete", 2
    else:
        verdict = comparison.verdict.value
        code = 1 if comparison.verdict is Verdict.REGRESSED else 0
    if not results:
        # Nothing had content: there is nothing to keep as a baseline either.
        record = replace(record, status="empty")
    summary.update(verdict=verdict, exit_code=code, skipped_no_content=skipped)
    record = replace(record, verdict=verdict, summary=summary)
    store.record_run(record, results)
    return code, summary, record


def _publish(
    cfg: EvalsConfig,
    record: RunRecord,
    code: int,
    environ: Mapping[str, str],
    results: list[ItemResult],
    rows: list[SampleRow],
    skipped_files: tuple[str, ...] = (),
) -> None:
    publish_metrics(
        cfg.shared.results_dir,
        "eval_sample",
        record,
        exit_code=code,
        regressed=code == 1,
        pushgateway_url=cfg.shared.pushgateway_url,
        skipped_files=skipped_files,
    )
    lf = langfuse_settings(environ)
    if lf is not None and results:
        inputs = {row.request_id: parse_prompt(row.input_messages) for row in rows}
        export_to_langfuse(lf, record, results, inputs, verdict=record.verdict)


def _headline(record: RunRecord, summary: dict[str, Any]) -> str:
    reg = summary["regression"]
    mean = f"{record.score:.3f}" if record.score is not None else "n/a"
    base = f"{reg['baseline_mean']:.3f}" if reg["baseline_mean"] is not None else "none"
    line = (
        f"{SUITE} · {record.model}: judged {record.n_pass + record.n_fail}, mean score {mean} "
        f"(baseline {base}), {record.n_error} judge errors → {summary['verdict']}"
    )
    if record.n_skipped:
        line += f"; {record.n_skipped} drawn rows skipped: no logged content (is llm.log_content on?)"
    return line
