"""docs/grafana/modelgate-dashboard.json: the rows and panels the on-call and ML engineers need, every
query naming only metrics documented in docs/metrics.md, and every query valid PromQL (promtool)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from promql_names import documented_metrics, metric_names, undocumented

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "docs" / "grafana" / "modelgate-dashboard.json"
DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
LABEL_VALUES = re.compile(r"^label_values\(\s*([A-Za-z_:][\w:]*)\s*,\s*(\w+)\s*\)$")


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def _rows() -> dict[str, list[dict[str, Any]]]:
    """Panels grouped under the row panel that precedes them (the dashboard keeps rows expanded)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    current: list[dict[str, Any]] | None = None
    for panel in _dashboard()["panels"]:
        if panel["type"] == "row":
            current = rows.setdefault(panel["title"], [])
        else:
            assert current is not None, f"panel {panel['title']!r} sits above the first row"
            current.append(panel)
    return rows


def _panel_exprs(panels: list[dict[str, Any]]) -> list[str]:
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def _all_exprs() -> list[str]:
    dashboard = _dashboard()
    exprs = _panel_exprs(dashboard["panels"])
    exprs += [a["expr"] for a in dashboard["annotations"]["list"] if "expr" in a]
    return exprs


def _as_promql(expr: str) -> str:
    """Grafana's variables replaced by what they stand for, so promtool can parse the query."""
    expr = expr.replace("$__rate_interval", "5m").replace("${__interval}", "1m").replace("$__interval", "1m")
    return re.sub(r"\$\{\w+\}|\$\w+", ".*", expr)


def test_rows_are_ops_llm_ml_with_unique_panel_ids() -> None:
    rows = _rows()
    assert list(rows) == ["Ops", "LLM", "LLM replicas", "ML"]
    assert all(len(panels) >= 4 for panels in rows.values())
    ids = [panel["id"] for panel in _dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    for panel in _dashboard()["panels"]:
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]


def test_ops_row_shows_rps_error_rate_and_latency_quantiles_per_backend() -> None:
    exprs = _panel_exprs(_rows()["Ops"])
    names = set().union(*(metric_names(e) for e in exprs))
    assert {"modelgate_requests_total", "backend:modelgate_request_errors:ratio_rate5m"} <= names
    for quantile in ("0.50", "0.95", "0.99"):
        assert any(
            f"histogram_quantile({quantile}, sum by (le, backend)" in e
            and "modelgate_request_duration_seconds_bucket" in e
            for e in exprs
        ), quantile


def test_llm_row_shows_ttft_inter_token_tokens_cost_and_budget() -> None:
    names = set().union(*(metric_names(e) for e in _panel_exprs(_rows()["LLM"])))
    assert {
        "gen_ai_server_time_to_first_token_seconds_bucket",
        "gen_ai_server_time_per_output_token_seconds_bucket",
        "modelgate_llm_tokens_total",
        "modelgate_llm_cost_usd_total",
        "tenant_window:modelgate_tenant_budget_used:ratio",
    } <= names


def test_llm_replicas_row_shows_health_load_outcomes_retries_and_fallbacks_per_replica() -> None:
    exprs = _panel_exprs(_rows()["LLM replicas"])
    names = set().union(*(metric_names(e) for e in exprs))
    assert {
        "modelgate_upstream_healthy",
        "modelgate_upstream_in_flight",
        "modelgate_upstream_requests_total",
        "modelgate_upstream_engine_requests",
        "modelgate_upstream_retries_total",
        "modelgate_upstream_fallbacks_total",
        "modelgate_upstream_ejections_total",
    } <= names
    assert all("upstream" in e or "fallback_model" in e or "reason" in e for e in exprs)


def test_ml_row_shows_prediction_share_drift_eval_and_both_aucs() -> None:
    exprs = _panel_exprs(_rows()["ML"])
    names = set().union(*(metric_names(e) for e in exprs))
    assert {
        "modelgate:churn_prediction_share:ratio_rate1h",
        "modelgate_drift_share",
        "modelgate_eval_score",
        "modelgate_model_auc",
        "modelgate_model_reference_auc",
    } <= names
    auc = [e for e in exprs if "modelgate_model_auc" in e]
    assert any('source="labels"' in e for e in auc) and any('source="estimate"' in e for e in auc)


def test_every_query_names_only_documented_metrics() -> None:
    documented = documented_metrics(ROOT / "docs" / "metrics.md")
    exprs = _all_exprs()
    assert len(exprs) >= 20
    for expr in exprs:
        names = metric_names(expr)
        assert names, f"no metric found in {expr!r}"
        assert not undocumented(names, documented), (
            f"{expr!r} names undocumented {undocumented(names, documented)}"
        )


def test_variables_read_documented_metrics_and_labels() -> None:
    documented = documented_metrics(ROOT / "docs" / "metrics.md")
    metrics_md = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    for variable in _dashboard()["templating"]["list"]:
        match = LABEL_VALUES.match(variable["query"]["query"])
        assert match, variable["name"]
        metric, label = match.groups()
        assert metric in documented
        row = next(line for line in metrics_md.splitlines() if line.startswith(f"| `{metric}` |"))
        assert f"`{label}`" in row, f"{metric} has no documented label {label}"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    rules = [{"record": f"dashboard:query_{i}", "expr": _as_promql(e)} for i, e in enumerate(_all_exprs())]
    rule_file = tmp_path / "dashboard_queries.yml"
    rule_file.write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8"
    )
    result = subprocess.run(
        ["promtool", "check", "rules", str(rule_file)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_panels_use_the_provisioned_prometheus_datasource() -> None:
    provisioned = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))["datasources"]
    uids = {ds["uid"] for ds in provisioned if ds["type"] == "prometheus"}
    for panel in _dashboard()["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] in uids, panel["title"]
            assert all(t["datasource"]["uid"] in uids for t in panel["targets"]), panel["title"]
