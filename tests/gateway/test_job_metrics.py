from __future__ import annotations

import json
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from gateway.job_metrics import JobResultsCollector
from gateway.logcontract.job_results import JobMetric, JobRun, publish
from support.conftest_helpers import metric_samples


def _scrape(results: Path) -> dict:
    registry = CollectorRegistry()
    registry.register(JobResultsCollector(results))
    return metric_samples(generate_latest(registry).decode())


def test_job_results_are_read_at_scrape_time(tmp_path: Path) -> None:
    assert _scrape(tmp_path) == {}  # no results yet: nothing, and no error
    t0 = time.time() - 5
    publish(
        tmp_path,
        JobRun("drift_data", "training", started_at=t0),
        exit_code=1,
        metrics=[
            JobMetric("modelgate_drift_share", "share", {"model": "churn", "against": "training"}, 0.43)
        ],
        finished_at=t0 + 2,
    )
    samples = _scrape(tmp_path)
    assert samples[("modelgate_drift_share", (("against", "training"), ("model", "churn")))] == 0.43
    assert samples[("modelgate_job_last_success_timestamp_seconds", (("job", "drift_data"),))] == t0 + 2
    assert samples[("modelgate_job_duration_seconds", (("job", "drift_data"),))] == 2
    # a later failed run keeps the last good values and the last success time
    publish(
        tmp_path,
        JobRun("drift_data", "training", started_at=t0 + 10),
        exit_code=2,
        metrics=[],
        finished_at=t0 + 11,
    )
    again = _scrape(tmp_path)
    assert again[("modelgate_drift_share", (("against", "training"), ("model", "churn")))] == 0.43
    assert again[("modelgate_job_last_success_timestamp_seconds", (("job", "drift_data"),))] == t0 + 2
    assert json.loads((tmp_path / "drift_data--training.json").read_text())["status"] == "failed"


def test_unreadable_or_foreign_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps([1, 2, 3]))
    (tmp_path / "odd.json").write_text(json.dumps({"job": "x", "metrics": [{"name": "m"}]}))
    assert _scrape(tmp_path) == {}
