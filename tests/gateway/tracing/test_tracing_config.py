"""The `tracing:` config section and the OTEL_* precedence (pure: environ is a dict)."""

from __future__ import annotations

from pathlib import Path

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


ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}
TRACES_ENDPOINT = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}


# The on/off table of docs/tracing.md, row by row: (tracing.enabled, tracing.endpoint, environment, on?).
@pytest.mark.parametrize(
    ("enabled", "endpoint", "environ", "on"),
    [
        ("auto", None, {}, False),
        ("auto", None, ENDPOINT, True),
        ("auto", None, TRACES_ENDPOINT, True),
        ("auto", "http://file:4318", {}, True),
        (True, None, {}, True),
        (False, None, ENDPOINT, False),
        (False, "http://file:4318", TRACES_ENDPOINT, False),
        ("auto", None, {**ENDPOINT, "OTEL_SDK_DISABLED": "true"}, False),
        (True, None, {"OTEL_SDK_DISABLED": "true"}, False),
        (True, None, {"OTEL_TRACES_EXPORTER": "none"}, False),
        ("auto", None, {**ENDPOINT, "OTEL_TRACES_EXPORTER": "otlp"}, True),
    ],
)
def test_on_off_precedence(
    enabled: bool | str, endpoint: str | None, environ: dict[str, str], on: bool
) -> None:
    config = TracingConfig.model_validate({"enabled": enabled, "endpoint": endpoint})
    r = resolve_tracing(config, service_version="1", environ=environ)
    assert r.enabled is on
    assert r.sources["enabled"]  # the start-up log names what decided


def test_auto_is_the_default_and_yaml_spellings_parse() -> None:
    assert TracingConfig().enabled == "auto"
    assert TracingConfig.model_validate({"enabled": "true"}).enabled is True
    assert TracingConfig.model_validate({"enabled": False}).enabled is False
    with pytest.raises(ValidationError):
        TracingConfig.model_validate({"enabled": "sometimes"})


def test_an_exporter_other_than_otlp_is_refused_by_name() -> None:
    with pytest.raises(TracingConfigError, match="OTEL_TRACES_EXPORTER=zipkin"):
        resolve(OTEL_TRACES_EXPORTER="zipkin")


def test_compression_timeout_and_certificates_from_the_environment(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here")
    r = resolve(
        OTEL_EXPORTER_OTLP_COMPRESSION="GZIP",
        OTEL_EXPORTER_OTLP_TIMEOUT="750",
        OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE=str(ca),
    )
    assert (r.compression, r.export_timeout_s, r.certificate) == ("gzip", 0.75, str(ca))
    assert r.sources["timeout"] == "OTEL_EXPORTER_OTLP_TIMEOUT"
    # The signal-specific variable wins over the general one.
    r = resolve(OTEL_EXPORTER_OTLP_COMPRESSION="gzip", OTEL_EXPORTER_OTLP_TRACES_COMPRESSION="none")
    assert r.compression == "none"
    r = resolve(TracingConfig(enabled=True, export_timeout_s=3.0))
    assert (r.compression, r.export_timeout_s, r.certificate, r.client_certificate) == (
        "none",
        3.0,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "OTEL_EXPORTER_OTLP_COMPRESSION=zstd"),
        ({"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"}, "OTEL_EXPORTER_OTLP_TIMEOUT must be a number"),
        ({"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "0"}, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT must be more"),
        (
            {"OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem"},
            "OTEL_EXPORTER_OTLP_CERTIFICATE: no such",
        ),
    ],
)
def test_bad_transport_variables_are_refused_by_name(environ: dict[str, str], message: str) -> None:
    with pytest.raises(TracingConfigError, match=message):
        resolve(**environ)


def test_client_certificate_needs_its_key(tmp_path: Path) -> None:
    cert = tmp_path / "client.pem"
    cert.write_text("x")
    with pytest.raises(TracingConfigError, match="go together"):
        resolve(OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=str(cert))


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
