"""prometheus.yml, recording_rules.yml and alerts.yml checked by the real promtool, plus the house rules.

promtool checks the config and rule syntax and runs the unit tests in tests/alerts/*.test.yml. The rest
reads the YAML: every alert has a severity, a summary and a runbook anchor that exists, every alert has a
unit-test case where it fires and one where it must stay silent, and every metric a rule reads is in
docs/metrics.md.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from promql_names import documented_metrics, metric_names, undocumented

ROOT = Path(__file__).resolve().parents[2]
TESTS = Path(__file__).resolve().parent
RULE_FILES = ("recording_rules.yml", "alerts.yml")
UNIT_TESTS = sorted(TESTS.glob("*.test.yml"))
# Days of simulated history: several seconds of promtool each.
SLOW_UNIT_TESTS = {"prediction_shift.test.yml", "jobs.test.yml", "latency_regression.test.yml"}
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (`make system-deps` installs Debian's prometheus)"
)


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _groups(name: str) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = _load(ROOT / name)["groups"]
    return groups


def _alerts() -> list[dict[str, Any]]:
    return [rule for group in _groups("alerts.yml") for rule in group["rules"]]


def _promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def _runbook_anchors() -> set[str]:
    """GitHub-style anchors of the runbook's headings (lower case, spaces to dashes, punctuation dropped)."""
    anchors = set()
    for line in (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add("".join(c for c in title.replace(" ", "-") if c.isalnum() or c in "-_"))
    return anchors


@needs_promtool
def test_prometheus_config_is_valid() -> None:
    result = _promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 rule files found" in result.stdout


@needs_promtool
def test_rule_files_are_valid() -> None:
    result = _promtool("check", "rules", *RULE_FILES)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
@pytest.mark.parametrize(
    "unit_test",
    [
        pytest.param(p, id=p.name, marks=[pytest.mark.slow] if p.name in SLOW_UNIT_TESTS else [])
        for p in UNIT_TESTS
    ],
)
def test_promtool_unit_tests_pass(unit_test: Path) -> None:
    result = _promtool("test", "rules", unit_test.name, cwd=TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_prometheus_config_wires_scrapes_rules_and_alertmanager() -> None:
    config = _load(ROOT / "prometheus.yml")
    assert config["rule_files"] == list(RULE_FILES)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"modelgate", "vllm", "pushgateway"}
    # The job metrics carry their own `job` label; without honor_labels it would become `exported_job`.
    assert jobs["modelgate"].get("honor_labels") is True
    assert jobs["pushgateway"].get("honor_labels") is True
    assert jobs["modelgate"]["static_configs"][0]["targets"] == ["127.0.0.1:8000"]
    assert jobs["vllm"]["static_configs"][0]["targets"] == ["127.0.0.1:8001"]
    alertmanagers = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alertmanagers == ["127.0.0.1:9093"]
    base = config["global"]["external_labels"]["runbook_base"]
    assert base.startswith("https://") and base.endswith("/docs/runbook.md")


def test_every_alert_has_severity_summary_and_a_runbook_anchor() -> None:
    anchors = _runbook_anchors()
    names = [alert["alert"] for alert in _alerts()]
    assert len(names) == len(set(names)), "alert names must be unique"
    for alert in _alerts():
        name = alert["alert"]
        assert alert["labels"]["severity"] in {"page", "ticket"}, name
        assert alert["annotations"]["summary"].strip(), name
        # An absolute link from prometheus.yml's external label runbook_base, else the relative file.
        url = alert["annotations"]["runbook_url"]
        assert url == '{{ or $externalLabels.runbook_base "docs/runbook.md" }}#' + name.lower(), name
        assert name.lower() in anchors, f"docs/runbook.md has no heading for {name}"


def test_pages_are_symptoms_and_tickets_are_causes() -> None:
    severities = {alert["alert"]: alert["labels"]["severity"] for alert in _alerts()}
    pages = {name for name, severity in severities.items() if severity == "page"}
    assert pages == {
        "HighErrorRate",
        "HighLatencyP95",
        "LLMTimeToFirstTokenHigh",
        "LLMUpstreamDown",
        "GatewayDown",
    }


def test_every_alert_has_a_firing_and_a_silent_unit_test_case() -> None:
    fires: set[str] = set()
    silent: set[str] = set()
    for path in UNIT_TESTS:
        for group in _load(path)["tests"]:
            for case in group.get("alert_rule_test", []):
                (fires if case.get("exp_alerts") else silent).add(case["alertname"])
    names = {alert["alert"] for alert in _alerts()}
    assert names - fires == set(), "alerts never shown firing"
    assert names - silent == set(), "alerts never shown staying silent"
    assert (fires | silent) - names == set(), "unit tests name alerts that do not exist"


def test_unit_tests_load_the_real_rules_in_a_fixed_group_order() -> None:
    """promtool orders rule groups at random unless told; recording groups must run before alerts."""
    order = [group["name"] for name in RULE_FILES for group in _groups(name)]
    assert len(UNIT_TESTS) >= 5
    for path in UNIT_TESTS:
        spec = _load(path)
        assert spec["rule_files"] == [f"../../{name}" for name in RULE_FILES], path.name
        assert spec["group_eval_order"] == order, path.name


def test_rules_read_only_documented_metrics() -> None:
    documented = documented_metrics(ROOT / "docs" / "metrics.md")
    for name in RULE_FILES:
        for group in _groups(name):
            for rule in group["rules"]:
                missing = undocumented(metric_names(rule["expr"]), documented)
                assert not missing, f"{rule.get('alert') or rule.get('record')} reads undocumented {missing}"


def test_every_recording_rule_is_documented() -> None:
    documented = documented_metrics(ROOT / "docs" / "metrics.md")
    records = {rule["record"] for group in _groups("recording_rules.yml") for rule in group["rules"]}
    assert records - set(documented) == set()
    assert all(documented[name] == "recording rule" for name in records)
