"""otel-collector.yaml: a consistent pipeline, in the order the collector needs, with Langfuse's headers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

CONFIG_PATH = Path(__file__).resolve().parents[1] / "otel-collector.yaml"


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    data = yaml.safe_load(CONFIG_PATH.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_every_component_a_pipeline_names_is_defined_and_every_defined_one_is_used(
    config: dict[str, Any],
) -> None:
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == {"traces"}
    for kind in ("receivers", "processors", "exporters"):
        used = {name for pipeline in pipelines.values() for name in pipeline[kind]}
        assert used, kind
        assert used <= set(config[kind]), f"{kind} used but not defined: {used - set(config[kind])}"
        assert set(config[kind]) <= used, f"{kind} defined but unused: {set(config[kind]) - used}"
    assert set(config["service"]["extensions"]) <= set(config["extensions"])


def test_memory_limiter_first_and_batch_last(config: dict[str, Any]) -> None:
    for pipeline in config["service"]["pipelines"].values():
        processors = pipeline["processors"]
        assert processors[0] == "memory_limiter"
        assert processors[-1] == "batch"
        assert "tail_sampling" in processors


def test_otlp_receiver_listens_on_the_standard_ports(config: dict[str, Any]) -> None:
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"].endswith(":4317")
    assert protocols["http"]["endpoint"].endswith(":4318")


def test_tail_sampling_keeps_errors_slow_traces_and_a_share_of_the_rest(config: dict[str, Any]) -> None:
    policies = {p["type"]: p for p in config["processors"]["tail_sampling"]["policies"]}
    assert policies["status_code"]["status_code"]["status_codes"] == ["ERROR"]
    assert 0 < policies["latency"]["latency"]["threshold_ms"] <= 5000
    assert 0 < policies["probabilistic"]["probabilistic"]["sampling_percentage"] < 100


def test_exporters_reach_jaeger_and_langfuse(config: dict[str, Any]) -> None:
    exporters = config["exporters"]
    (jaeger,) = [v for k, v in exporters.items() if k.endswith("/jaeger")]
    assert jaeger["endpoint"] == "jaeger:4317"
    assert jaeger["tls"]["insecure"] is True
    (name,) = [k for k in exporters if k.endswith("/langfuse")]
    assert name.split("/")[0] in ("otlp_http", "otlphttp")  # Langfuse takes OTLP over HTTP only
    langfuse = exporters[name]
    assert langfuse["endpoint"] == "${env:LANGFUSE_HOST}/api/public/otel"
    assert langfuse["headers"]["Authorization"] == "Basic ${env:LANGFUSE_AUTH}"
    # A string: the collector's header map takes strings, and Langfuse compares the value.
    assert langfuse["headers"]["x-langfuse-ingestion-version"] == "4"


def test_environment_references_use_the_env_provider_syntax() -> None:
    text = CONFIG_PATH.read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert re.findall(r"\$\{env:[A-Z_]+\}", body)
    # Bare $VAR / ${VAR} expansion is deprecated in the collector.
    assert not re.search(r"\$(?!\{env:)[{A-Za-z]", body)
