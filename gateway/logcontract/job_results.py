"""Publish a job's result: one JSON file the gateway re-exports, and a Pushgateway push when configured.

The file format is the contract in docs/contracts.md ("Job results"). Drift, label, performance and eval
jobs all publish through `publish`, so their metrics reach Prometheus the same way:

    publish(results_dir, JobRun(job="drift_data", variant="training", started_at=t0),
            exit_code=1, metrics=[JobMetric("modelgate_drift_share", "Share of drifted columns.",
                                            {"model": "churn"}, 0.43)])
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SKIPPED_FILES_METRIC", "JobMetric", "JobRun", "publish", "read_result", "result_path"]

SKIPPED_FILES_METRIC = "modelgate_log_skipped_files"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobMetric:
    """One gauge sample: a metric name, its help text, its labels and its value."""

    name: str
    help: str
    labels: dict[str, str]
    value: float


@dataclass
class JobRun:
    """Which job ran, in which variant (e.g. the `against` of a drift job), and when it started."""

    job: str
    variant: str = ""
    started_at: float = field(default_factory=time.time)


def result_path(results_dir: Path, job: str, variant: str = "") -> Path:
    """Where a job's latest result lives: `<dir>/<job>[--<variant>].json`."""
    stem = f"{job}--{variant}" if variant else job
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)
    return results_dir / f"{safe}.json"


def read_result(path: Path) -> dict[str, Any] | None:
    """The parsed result file, or None when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def publish(
    results_dir: Path,
    run: JobRun,
    *,
    exit_code: int,
    metrics: list[JobMetric],
    pushgateway_url: str | None = None,
    finished_at: float | None = None,
    skipped_files: Sequence[str] | None = None,
    log: str = "predictions",
) -> Path:
    """Write the result file atomically (and push it when a Pushgateway is configured); return its path.

    Exit codes 0 and 1 are successful runs (1 means the watched condition was found); anything else is a
    failed run, which keeps the previous `last_success_at` so a staleness alert still sees the gap.

    A job that read a log passes the files it had to leave out (`skipped_files`, corrupt or truncated):
    they are listed in the file and counted in `modelgate_log_skipped_files{log, reader}`.
    """
    finished = time.time() if finished_at is None else finished_at
    path = result_path(results_dir, run.job, run.variant)
    ok = exit_code in (0, 1)
    if skipped_files is not None:
        metrics = [
            *metrics,
            JobMetric(
                SKIPPED_FILES_METRIC,
                "Log files the job's latest run could not read (corrupt or truncated) and left out.",
                {"log": log, "reader": run.job},
                float(len(skipped_files)),
            ),
        ]
    previous = read_result(path) or {}
    last_success = finished if ok else previous.get("last_success_at")
    body = {
        "job": run.job,
        "variant": run.variant,
        "status": "ok" if ok else "failed",
        "exit_code": exit_code,
        "started_at": run.started_at,
        "finished_at": finished,
        "last_success_at": last_success,
        # A failed run publishes no fresh values: the last good ones stay visible.
        "metrics": [m.__dict__ for m in metrics] if ok else previous.get("metrics", []),
    }
    if skipped_files is not None:
        body["skipped_files"] = list(skipped_files)
    results_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=results_dir, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(body, fh, indent=2, sort_keys=True)
    os.replace(tmp, path)
    if pushgateway_url:
        _push(pushgateway_url, body)
    return path


def _push(url: str, body: dict[str, Any]) -> None:
    """Push the same samples to a Pushgateway; a push failure is logged, never fails the job."""
    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

    registry = CollectorRegistry()
    gauges: dict[str, Gauge] = {}
    for m in body["metrics"]:
        names = sorted(m["labels"])
        g = gauges.get(m["name"])
        if g is None:
            g = gauges[m["name"]] = Gauge(m["name"], m["help"], names, registry=registry)
        (g.labels(**m["labels"]) if names else g).set(m["value"])
    # The push's grouping key carries `job`, so these two need no label of their own.
    Gauge(
        "modelgate_job_last_success_timestamp_seconds",
        "Unix time of the job's last successful run.",
        registry=registry,
    ).set(body["last_success_at"] or 0)
    Gauge("modelgate_job_duration_seconds", "Wall time of the job's last run.", registry=registry).set(
        body["finished_at"] - body["started_at"]
    )
    grouping = {"variant": body["variant"] or "default"}
    try:
        push_to_gateway(url, job=body["job"], grouping_key=grouping, registry=registry, timeout=5)
    except OSError as exc:
        log.warning("push to %s failed: %s", url, exc)
