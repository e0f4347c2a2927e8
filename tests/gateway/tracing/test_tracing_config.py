"""The `tracing:` config section and the OTEL_* precedence (pure: environ is a dict)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.tracing.config import (
    ResolvedTracing,
    TracingConfig,
    TracingConfigError,
    parse_key_values,
    resolve_tracing,
)


def resolve(config: TracingConfig | None = None, /, **environ: str) -> ResolvedTracing:
    return resolve_tracing(config or TracingConfig(enabled=True), service_version="1.2.3", environ=environ)


def test_every_field_is_described_and_unknown_keys_are_refused() -> None:
    for name, field in TracingConfig.model_fields.items():
        assert field.description, name
    with pytest.raises(ValidationError, match="extra"):
        TracingConfig.model_validate({"enabled": True, "sampling": 0.5})


@pytest.mark.parametrize(
    "raw",
    [{"sample_ratio": 1.5}, {"sample_ratio": -0.1}, {"endpoint": "localhost:4318"}, {"export_timeout_s": 0}],
)
def test_bad_values_are_refused(raw: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        TracingConfig.model_validate(raw)


def test_defaults_without_environment() -> None:
    r = resolve()
    assert r.enabled
    assert r.traces_endpoint == "http://localhost:4318/v1/traces"
    assert (r.sampler, r.sample_ratio) == ("parentbased_traceidratio", 1.0)
    assert r.resource_attributes == {
        "service.name": "modelgate",
        "service.version": "1.2.3",
        "deployment.environment.name": "development",
    }
    assert not r.capture_content and r.redact


def test_disabled_by_default_and_env_cannot_enable_it() -> None:
    r = resolve_tracing(
        TracingConfig(), service_version="1", environ={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}
    )
    assert not r.enabled


@pytest.mark.parametrize(
    ("value", "enabled"), [("true", False), ("TRUE", False), ("false", True), ("1", True)]
)
def test_otel_sdk_disabled_only_honours_true(value: str, enabled: bool) -> None:
    assert resolve(OTEL_SDK_DISABLED=value).enabled is enabled


@pytest.mark.parametrize(
    ("config_endpoint", "environ", "expected"),
    [
        ("http://127.0.0.1:4318", {}, "http://127.0.0.1:4318/v1/traces"),
        ("http://127.0.0.1:4318/", {}, "http://127.0.0.1:4318/v1/traces"),
        ("https://lf.example/api/public/otel", {}, "https://lf.example/api/public/otel/v1/traces"),
        ("http://c:4318/v1/traces", {}, "http://c:4318/v1/traces"),
        ("http://file:4318", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318"}, "http://env:4318/v1/traces"),
        (
            "http://file:4318",
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:1/x",
            },
            "http://t:1/x",
        ),
        (None, {}, "http://localhost:4318/v1/traces"),
    ],
)
def test_endpoint_precedence(config_endpoint: str | None, environ: dict[str, str], expected: str) -> None:
    r = resolve(TracingConfig(enabled=True, endpoint=config_endpoint), **environ)
    assert r.traces_endpoint == expected


def test_headers_merge_key_by_key_and_are_percent_decoded() -> None:
    config = TracingConfig(enabled=True, headers={"Authorization": "Basic file", "x-a": "1"})
    r = resolve(
        config,
        OTEL_EXPORTER_OTLP_HEADERS="x-a=2,x-b=hello%20world",
        OTEL_EXPORTER_OTLP_TRACES_HEADERS="Authorization=Basic%20env",
    )
    assert r.headers == {"Authorization": "Basic env", "x-a": "2", "x-b": "hello world"}


def test_malformed_header_list_names_the_variable_not_the_secret() -> None:
    with pytest.raises(TracingConfigError) as err:
        resolve(OTEL_EXPORTER_OTLP_HEADERS="Authorization=Basic abc,sk-secret-without-equals")
    assert "OTEL_EXPORTER_OTLP_HEADERS" in str(err.value)
    assert "secret" not in str(err.value)


def test_resource_precedence() -> None:
    config = TracingConfig(enabled=True, service_name="from-file", environment="staging")
    r = resolve(config, OTEL_RESOURCE_ATTRIBUTES="service.name=from-attrs,k8s.pod.name=p-1,team=ml%2Fops")
    assert r.resource_attributes["service.name"] == "from-attrs"
    assert r.resource_attributes["k8s.pod.name"] == "p-1"
    assert r.resource_attributes["team"] == "ml/ops"
    assert r.resource_attributes["deployment.environment.name"] == "staging"
    r = resolve(config, OTEL_RESOURCE_ATTRIBUTES="service.name=from-attrs", OTEL_SERVICE_NAME="from-env")
    assert r.resource_attributes["service.name"] == "from-env"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, ("parentbased_traceidratio", 0.25)),
        ({"OTEL_TRACES_SAMPLER_ARG": "0.5"}, ("parentbased_traceidratio", 0.5)),
        ({"OTEL_TRACES_SAMPLER": "always_off"}, ("always_off", 0.25)),
        ({"OTEL_TRACES_SAMPLER": "TraceIdRatio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}, ("traceidratio", 0.1)),
        # The ratio argument means nothing to always_on; it is ignored, as in the SDK.
        (
            {"OTEL_TRACES_SAMPLER": "parentbased_always_on", "OTEL_TRACES_SAMPLER_ARG": "x"},
            ("parentbased_always_on", 0.25),
        ),
    ],
)
def test_sampler_precedence(environ: dict[str, str], expected: tuple[str, float]) -> None:
    r = resolve(TracingConfig(enabled=True, sample_ratio=0.25), **environ)
    assert (r.sampler, r.sample_ratio) == expected


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"OTEL_TRACES_SAMPLER": "jaeger_remote"}, "OTEL_TRACES_SAMPLER"),
        ({"OTEL_TRACES_SAMPLER_ARG": "half"}, "OTEL_TRACES_SAMPLER_ARG"),
        ({"OTEL_TRACES_SAMPLER_ARG": "2"}, "OTEL_TRACES_SAMPLER_ARG"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "http/protobuf"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "novalue"}, "OTEL_RESOURCE_ATTRIBUTES"),
    ],
)
def test_malformed_environment_is_refused_with_one_line(environ: dict[str, str], message: str) -> None:
    with pytest.raises(TracingConfigError, match=message) as err:
        resolve(**environ)
    assert "\n" not in str(err.value)


def test_parse_key_values_skips_empty_items() -> None:
    assert parse_key_values(" a = 1 ,, b=2 ,", "X") == {"a": "1", "b": "2"}
