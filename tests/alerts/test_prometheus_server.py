"""The real Prometheus helper, run against a tiny metrics endpoint: it starts with the project's config,
scrapes, keeps a job metric's own `job` label (honor_labels), evaluates the recording rules, and fires an
alert from alerts.yml for a dead target."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from support.prometheus_server import (
    PrometheusError,
    build_config,
    find_prometheus,
    free_port,
    run_prometheus,
)

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    find_prometheus() is None, reason="prometheus is not installed (`make system-deps` installs it)"
)


@pytest.fixture
def metrics_endpoint() -> Iterator[str]:
    """A /metrics endpoint shaped like the gateway's: a gauge of its own and a job metric with `job`."""
    registry = CollectorRegistry()
    Gauge("modelgate_build_info", "build", ["version"], registry=registry).labels("test").set(1)
    Gauge("modelgate_job_last_success_timestamp_seconds", "last success", ["job"], registry=registry).labels(
        "drift_data"
    ).set(time.time())
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.integration
@pytest.mark.slow
def test_prometheus_scrapes_evaluates_rules_and_fires_alerts(metrics_endpoint: str) -> None:
    dead = f"127.0.0.1:{free_port()}"  # nothing listens here: the vllm target is down
    with run_prometheus({"modelgate": [metrics_endpoint], "vllm": [dead]}, for_override="0s") as prom:
        up = prom.wait_until(lambda: prom.query('up{job="modelgate"} == 1'), timeout=20)
        assert up[0]["metric"]["instance"] == metrics_endpoint

        # honor_labels: the job metric keeps job="drift_data"; the gateway's own metric gets the scrape job.
        job_metric = prom.query("modelgate_job_last_success_timestamp_seconds")
        assert [s["metric"]["job"] for s in job_metric] == ["drift_data"]
        assert "exported_job" not in job_metric[0]["metric"]
        assert prom.query("modelgate_build_info")[0]["metric"]["job"] == "modelgate"

        expected = prom.wait_until(lambda: prom.query("modelgate:job_expected_interval_seconds"), timeout=20)
        assert {s["metric"]["job"] for s in expected} == {
            "drift_data", "drift_prediction", "performance", "labels_ingest", "eval_run", "eval_sample",
            "logs_compact",
        }  # fmt: skip

        firing = prom.wait_until(lambda: prom.firing("LLMUpstreamDown"), timeout=30)
        assert firing[0]["labels"]["instance"] == dead
        assert firing[0]["labels"]["severity"] == "page"
        # prometheus.yml's runbook_base makes the link absolute (alerts.yml's template).
        base = yaml.safe_load((ROOT / "prometheus.yml").read_text())["global"]["external_labels"][
            "runbook_base"
        ]
        assert firing[0]["annotations"]["runbook_url"] == f"{base}#llmupstreamdown"
        # With `for: 0s`, an evaluation that ran before the first scrape sees absent(up) and fires once;
        # it must clear as soon as the gateway has been scraped (production keeps `for: 1m`).
        assert prom.wait_until(lambda: prom.firing("GatewayDown") == [], timeout=15)

        flags = prom.api("status/flags")
        assert "exemplar-storage" in flags["enable-feature"]


def test_config_keeps_only_the_named_jobs_and_rejects_unknown_ones(tmp_path: Path) -> None:
    config = build_config({"vllm": ["127.0.0.1:1"]}, rule_dir=tmp_path, interval="1s", alertmanager=None)
    assert [job["job_name"] for job in config["scrape_configs"]] == ["vllm"]
    assert config["scrape_configs"][0]["static_configs"] == [{"targets": ["127.0.0.1:1"]}]
    assert config["rule_files"] == [str(tmp_path / "recording_rules.yml"), str(tmp_path / "alerts.yml")]
    assert "alerting" not in config
    assert config["global"]["evaluation_interval"] == "1s"
    with pytest.raises(ValueError, match="no scrape job named \\['gateway'\\]"):
        build_config({"gateway": ["127.0.0.1:1"]}, rule_dir=tmp_path, interval="1s", alertmanager=None)


@pytest.mark.integration
def test_a_bad_config_fails_fast_with_the_log(tmp_path: Path) -> None:
    with (
        pytest.raises(PrometheusError, match="did not become ready"),
        run_prometheus({"vllm": ["127.0.0.1:1"]}, interval="not-a-duration", ready_timeout=10),
    ):
        pass
