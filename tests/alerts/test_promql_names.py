"""The metric-name extractor the dashboard and rule tests rely on: if it misses names, those tests pass
vacuously, so it is tested on the shapes the project's PromQL uses."""

from __future__ import annotations

from pathlib import Path

from promql_names import documented_metrics, metric_names, undocumented


def test_selectors_functions_and_label_lists() -> None:
    expr = """
      histogram_quantile(0.95,
        sum by (le, backend) (rate(modelgate_request_duration_seconds_bucket{backend!="ops", le=~".+"}[5m])))
      > on (backend) group_left () backend:modelgate_request_duration_seconds:p95_objective
    """
    assert metric_names(expr) == {
        "modelgate_request_duration_seconds_bucket",
        "backend:modelgate_request_duration_seconds:p95_objective",
    }


def test_offsets_durations_numbers_and_strings_are_not_names() -> None:
    expr = (
        "avg_over_time(modelgate:churn_prediction_share:ratio_rate1h[7d] offset 1d) + 1e3 * 0.05"
        ' and label_replace(up{job="vllm"}, "dst", "$1", "instance", "(.*):.*")'
    )
    assert metric_names(expr) == {"modelgate:churn_prediction_share:ratio_rate1h", "up"}


def test_grafana_variables_subqueries_and_trailing_grouping() -> None:
    expr = (
        'sum(rate(vllm:prompt_tokens_total{model_name=~"$model"}[$__rate_interval])) by (model_name)'
        " / ignoring (type) max_over_time(modelgate_llm_requests_in_flight[1h:${__interval}])"
    )
    assert metric_names(expr) == {"vllm:prompt_tokens_total", "modelgate_llm_requests_in_flight"}


def test_aggregation_with_leading_grouping_and_set_operators() -> None:
    expr = (
        "max without (instance, job) (modelgate_drift_share) > 0.3"
        " unless sum(modelgate_eval_regression) or vector(1)"
    )
    assert metric_names(expr) == {"modelgate_drift_share", "modelgate_eval_regression"}


def test_histogram_series_are_documented_by_their_base_name(tmp_path: Path) -> None:
    doc = tmp_path / "metrics.md"
    doc.write_text(
        "| name | type | labels | meaning |\n|---|---|---|---|\n"
        "| `a_seconds` | histogram | x | y |\n| `b_total` | counter | x | y |\n",
        encoding="utf-8",
    )
    documented = documented_metrics(doc)
    assert documented == {"a_seconds": "histogram", "b_total": "counter"}
    names = {"a_seconds_bucket", "a_seconds_count", "b_total", "b_total_count", "c"}
    assert undocumented(names, documented) == {"b_total_count", "c"}
