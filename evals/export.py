"""Where a finished run's numbers go besides the history: job metrics for Prometheus, and Langfuse.

Job metrics are published through `gateway.logcontract.job_results.publish` (the gateway re-exports them):
`modelgate_eval_score{suite, model}`, `modelgate_eval_regression{suite, model}` (0/1) and
`modelgate_eval_items_total{suite, model, outcome}`.

Langfuse is used when LANGFUSE_BASE_URL (or the older LANGFUSE_HOST), LANGFUSE_PUBLIC_KEY and
LANGFUSE_SECRET_KEY are all set: one trace per run (a root span) with one generation per item and its
scores, through the official SDK on a private TracerProvider (so the SDK never takes over the process's
global OpenTelemetry provider), flushed before the command exits. A Langfuse failure is logged and
never fails the job.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.records import ItemResult, RunRecord
from gateway.logcontract.job_results import JobMetric, JobRun, publish

__all__ = ["LangfuseSettings", "export_to_langfuse", "langfuse_settings", "publish_metrics", "run_metrics"]

log = logging.getLogger(__name__)


def run_metrics(record: RunRecord, *, regressed: bool) -> list[JobMetric]:
    """The gauges of one run: score, regression flag, item counts by outcome."""
    labels = {"suite": record.suite, "model": record.model}
    metrics = [
        JobMetric(
            "modelgate_eval_regression",
            "1 when the last eval run regressed against its trailing baseline, else 0.",
            labels,
            1.0 if regressed else 0.0,
        )
    ]
    if record.score is not None:
        metrics.append(
            JobMetric(
                "modelgate_eval_score", "Mean item score (0-1) of the last eval run.", labels, record.score
            )
        )
    for outcome, count in (("pass", record.n_pass), ("fail", record.n_fail), ("error", record.n_error)):
        metrics.append(
            JobMetric(
                "modelgate_eval_items_total",
                "Items of the last eval run by outcome.",
                {**labels, "outcome": outcome},
                float(count),
            )
        )
    return metrics


def publish_metrics(
    results_dir: Path,
    job: str,
    record: RunRecord,
    *,
    exit_code: int,
    regressed: bool,
    pushgateway_url: str | None,
    skipped_files: Sequence[str] | None = None,
) -> Path:
    run = JobRun(job=job, variant=f"{record.suite}:{record.model}", started_at=record.started_at)
    return publish(
        results_dir,
        run,
        exit_code=exit_code,
        metrics=run_metrics(record, regressed=regressed),
        pushgateway_url=pushgateway_url,
        finished_at=record.finished_at,
        skipped_files=skipped_files,
        log="llm",
    )


@dataclass(frozen=True)
class LangfuseSettings:
    host: str
    public_key: str
    secret_key: str


def langfuse_settings(environ: Mapping[str, str]) -> LangfuseSettings | None:
    """The Langfuse connection when all three variables are set, else None."""
    # LANGFUSE_BASE_URL is the SDK's current name (since langfuse 3.8.1); LANGFUSE_HOST the older one.
    host = environ.get("LANGFUSE_BASE_URL") or environ.get("LANGFUSE_HOST")
    public, secret = environ.get("LANGFUSE_PUBLIC_KEY"), environ.get("LANGFUSE_SECRET_KEY")
    if host and public and secret:
        return LangfuseSettings(host.rstrip("/"), public, secret)
    return None


def export_to_langfuse(
    settings: LangfuseSettings,
    record: RunRecord,
    results: Sequence[ItemResult],
    inputs: Mapping[str, Any],
    *,
    verdict: str,
) -> str | None:
    """Record the run in Langfuse; return its trace id (None when the export failed)."""
    from langfuse import Langfuse
    from opentelemetry.sdk.trace import TracerProvider

    # A private provider, so the SDK never installs itself as the process's global one. No shutdown at the
    # end: the SDK keeps one client per public key for the whole process and would hand a shut-down one to
    # the next export (the next model of a sample run), which then drops its scores ("client has been shut
    # down"). `flush()` delivers everything now; the SDK's own atexit hook shuts it down at exit.
    client = Langfuse(
        public_key=settings.public_key,
        secret_key=settings.secret_key,
        base_url=settings.host,
        tracer_provider=TracerProvider(),
    )
    try:
        trace_id = _send(client, record, results, inputs, verdict)
        client.flush()
        return trace_id
    except Exception as exc:  # telemetry must never fail the job
        log.warning("Langfuse export failed: %s", exc)
        return None


def _send(
    client: Any, record: RunRecord, results: Sequence[ItemResult], inputs: Mapping[str, Any], verdict: str
) -> str:
    root = client.start_observation(
        name=f"eval {record.kind} {record.suite}",
        as_type="span",
        input={"suite": record.suite, "model": record.model, "items": record.n_items},
        metadata={"run_id": record.run_id, "kind": record.kind},
    )
    for r in results:
        item = root.start_observation(
            name=r.item_id,
            as_type="generation",
            model=record.model,
            input=inputs.get(r.key),
            output=r.output,
            usage_details={"input": r.input_tokens, "output": r.output_tokens},
            metadata={
                "expected": r.expected,
                "outcome": r.outcome.value,
                "detail": r.detail,
                "tags": list(r.tags),
            },
        )
        item.end()
        ids = {"trace_id": item.trace_id, "observation_id": item.id}
        client.create_score(name="eval_outcome", value=r.outcome.value, data_type="CATEGORICAL", **ids)
        if r.score is not None:
            client.create_score(
                name="eval_score", value=r.score, data_type="NUMERIC", comment=r.detail, **ids
            )
    root.update(output={"pass_rate": record.pass_rate, "score": record.score, "verdict": verdict})
    root.end()
    if record.score is not None:
        client.create_score(
            name="eval_run_score", value=record.score, data_type="NUMERIC", trace_id=root.trace_id
        )
    client.create_score(name="eval_verdict", value=verdict, data_type="CATEGORICAL", trace_id=root.trace_id)
    return str(root.trace_id)
