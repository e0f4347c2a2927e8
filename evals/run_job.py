"""`modelgate eval run`: run a suite, store it, compare it with its trailing baseline, report, export.

The steps, each in its own module: load the suite (evals.suite) → ask and score every item
(evals.runner) → summarise (evals.records) → pair with the previous K runs and decide (evals.regression)
→ store (evals.history) → JSON + HTML reports (evals.report, evals.html_report) → job metrics and Langfuse
(evals.export). Exit 0: no regression; 1: regressed; 2: bad input, or too many items errored to judge.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from evals.client import RetryPolicy, make_client
from evals.config import EvalsConfig
from evals.errors import BadInput
from evals.export import export_to_langfuse, langfuse_settings, publish_metrics
from evals.history import HistoryStore
from evals.html_report import render_run_report
from evals.records import ItemResult, RunRecord, outcomes_by_key, summarise_run
from evals.regression import Verdict, compare_paired, parse_baseline_spec
from evals.report import run_summary
from evals.runner import RunSettings, run_items
from evals.suite import Suite, load_suite, resolve_suite
from monitoring.progress import ItemProgress

__all__ = ["RunRequest", "new_run_id", "report_paths", "run_eval", "write_text"]


@dataclass(frozen=True)
class RunRequest:
    """The `eval run` arguments after defaults from the config and the environment are applied."""

    suite: str
    model: str
    base_url: str
    api_key: str
    concurrency: int
    baseline: str
    timeout_s: float
    retries: int
    use_cache: bool = False
    json_path: Path | None = None
    html_path: Path | None = None


def new_run_id(now: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)) + "-" + uuid.uuid4().hex[:6]


def _safe(value: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in value)


def report_paths(reports_dir: Path, kind: str, suite: str, model: str) -> tuple[Path, Path]:
    """The latest report of a suite and model: `<reports_dir>/<kind>--<suite>--<model>.{json,html}`."""
    stem = reports_dir / f"{kind}--{_safe(suite)}--{_safe(model)}"
    return stem.with_suffix(".json"), stem.with_suffix(".html")


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


async def _ask_all(
    req: RunRequest, suite: Suite, cfg: EvalsConfig, store: HistoryStore, err: TextIO
) -> list[ItemResult]:
    settings = RunSettings(
        model=req.model,
        api=suite.api,
        concurrency=req.concurrency,
        policy=RetryPolicy(req.retries, cfg.section.retry_backoff_s, req.timeout_s),
        judge=cfg.judge,
        price=cfg.price_for(req.model),
        use_cache=req.use_cache,
    )
    client = make_client(req.base_url, req.api_key, timeout_s=req.timeout_s)
    bar = ItemProgress(len(suite.items), f"{suite.name} · {req.model}", err)
    try:
        return await run_items(client, suite.items, settings, store=store, progress=bar)
    finally:
        bar.close()
        await client.close()


def _load(req: RunRequest, cfg: EvalsConfig) -> tuple[Suite, int]:
    try:
        k = parse_baseline_spec(req.baseline)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    return load_suite(resolve_suite(req.suite, cfg.suites_dir)), k


def run_eval(
    req: RunRequest, cfg: EvalsConfig, *, environ: Mapping[str, str], out: TextIO, err: TextIO
) -> int:
    """Run the suite; return the exit code. Raises SuiteError/BadInput for bad input (the CLI prints it)."""
    suite, k = _load(req, cfg)
    started = time.time()
    run_id = new_run_id(started)
    with HistoryStore.open(cfg.history_path) as store:
        results = asyncio.run(_ask_all(req, suite, cfg, store, err))
        record = summarise_run(
            run_id,
            "run",
            suite.name,
            req.model,
            results,
            started_at=started,
            finished_at=time.time(),
            max_error_rate=cfg.section.max_error_rate,
            suite_digest=suite.digest,
        )
        baseline = store.trailing_runs("run", suite.name, req.model, k=k, before=started)
        baseline_results = [store.items(run.run_id) for run in baseline]
        comparison = compare_paired(
            outcomes_by_key(results),
            [outcomes_by_key(items) for items in baseline_results],
            cfg.regression,
            min_runs=k,
        )
        summary = run_summary(record, comparison, baseline, results, spec=req.baseline, cfg=cfg.regression)
        if record.status != "complete":
            verdict, exit_code = "incomplete", 2
        else:
            verdict = comparison.verdict.value
            exit_code = 1 if comparison.verdict is Verdict.REGRESSED else 0
        summary.update(verdict=verdict, exit_code=exit_code)
        record = replace(record, verdict=verdict, summary=summary)
        store.record_run(record, results)
        trend = list(reversed(store.list_runs(kind="run", suite=suite.name, model=req.model, limit=30)))

    newest = {r.key: r for r in baseline_results[0]} if baseline_results else {}
    page = render_run_report(summary, results, newest, trend, comparison.baseline_rate_by_item)
    _write_reports(cfg, record, summary, page, req)
    publish_metrics(
        cfg.shared.results_dir,
        "eval_run",
        record,
        exit_code=exit_code,
        regressed=exit_code == 1,
        pushgateway_url=cfg.shared.pushgateway_url,
    )
    lf = langfuse_settings(environ)
    if lf is not None:
        inputs = {item.key: item.input for item in suite.items}
        export_to_langfuse(lf, record, results, inputs, verdict=verdict)
    out.write(_headline(record, summary) + "\n")
    if exit_code == 2:
        first = next((r for r in results if r.detail and r.score is None), None)
        why = f" (first: {first.item_id}: {first.detail})" if first else ""
        err.write(f"modelgate eval run: {record.n_error} of {record.n_items} items errored{why}\n")
    return exit_code


def _write_reports(
    cfg: EvalsConfig, record: RunRecord, summary: dict[str, Any], page: str, req: RunRequest
) -> None:
    json_text = json.dumps(summary, indent=2, sort_keys=True, default=str)
    default_json, default_html = report_paths(cfg.reports_dir, "run", record.suite, record.model)
    for path in {default_json, *([req.json_path] if req.json_path else [])}:
        write_text(path, json_text)
    for path in {default_html, *([req.html_path] if req.html_path else [])}:
        write_text(path, page)


def _headline(record: RunRecord, summary: dict[str, Any]) -> str:
    base = summary["baseline"]
    rate = f"{record.pass_rate:.1%}" if record.pass_rate is not None else "n/a"
    then = (
        f"{base['pass_rate']:.1%} over {len(base['run_ids'])} runs"
        if base["pass_rate"] is not None
        else "none"
    )
    return (
        f"{record.suite} · {record.model}: pass {record.n_pass}/{record.n_items} ({rate}), "
        f"{record.n_error} errors; baseline {then} → {summary['verdict']}"
    )
