"""The `tracing:` section of `modelgate.yaml`, and how the standard `OTEL_*` variables override it.

`TracingConfig` is what the file says; `resolve_tracing` turns it plus the environment into the
`ResolvedTracing` that `setup_tracing` builds from. Resolution is a pure function of its two inputs, so
the precedence below is unit-tested without touching `os.environ`.

Precedence (the environment wins for the OTel-standard settings, as every OTel SDK lets an operator
re-point a deployed service without editing its files):

- on/off (docs/tracing.md has the table): `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn
  tracing off whatever the file says; else `tracing.enabled: true|false` decides; else (`auto`, the
  default) tracing is on exactly when an endpoint is configured: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
  `OTEL_EXPORTER_OTLP_ENDPOINT` or `tracing.endpoint`.
- endpoint: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as-is), else `OTEL_EXPORTER_OTLP_ENDPOINT`
  + `/v1/traces`, else `tracing.endpoint` + `/v1/traces`, else `http://localhost:4318/v1/traces`.
- headers, key by key: `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, `OTEL_EXPORTER_OTLP_HEADERS`, `tracing.headers`.
- service.name: `OTEL_SERVICE_NAME`, else `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, else
  `tracing.service_name`. Other resource attributes: `OTEL_RESOURCE_ATTRIBUTES` over
  `tracing.environment` (deployment.environment.name) and the package version (service.version).
- sampler: `OTEL_TRACES_SAMPLER` (with `OTEL_TRACES_SAMPLER_ARG` as the ratio of the ratio samplers),
  else `parentbased_traceidratio` with `OTEL_TRACES_SAMPLER_ARG`, else `tracing.sample_ratio`.
- protocol: `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL` may only say `http/protobuf`.
- transport, the signal-specific variable over the general one: `..._COMPRESSION` (`gzip` or `none`),
  `..._TIMEOUT` (milliseconds, as the OTel spec says; it replaces `tracing.export_timeout_s`),
  `..._CERTIFICATE` (a PEM file of CAs that verify the collector), `..._CLIENT_CERTIFICATE` and
  `..._CLIENT_KEY` (mutual TLS).

Unlike the SDK, which logs a warning and falls back, a malformed value is refused at start-up with a
`TracingConfigError` naming the variable (never its value: header values are secrets).
`OTEL_PROPAGATORS` and `OTEL_BSP_*` are not read: the propagator is always W3C TraceContext + Baggage and
the batch processor's limits are fixed (see `gateway.tracing.setup`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["ResolvedTracing", "SamplerName", "TracingConfig", "TracingConfigError", "resolve_tracing"]

DEFAULT_TRACES_ENDPOINT = "http://localhost:4318/v1/traces"
TRACES_PATH = "/v1/traces"

SamplerName = Literal[
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
]
_SAMPLERS: frozenset[str] = frozenset(get_args(SamplerName))
_RATIO_SAMPLERS = frozenset({"traceidratio", "parentbased_traceidratio"})


class TracingConfigError(ValueError):
    """The tracing settings cannot be used. The message is one line and names the setting."""


class TracingConfig(BaseModel):
    """The `tracing:` section of `modelgate.yaml`."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | Literal["auto"] = Field(
        default="auto",
        description=(
            "Emit OpenTelemetry spans: true, false, or auto (the default): on exactly when an OTLP endpoint "
            "is configured (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT or "
            "tracing.endpoint). OTEL_SDK_DISABLED=true turns it off whatever this says."
        ),
    )
    endpoint: str | None = Field(
        default=None,
        description=(
            "OTLP/HTTP base URL of the trace backend or collector, e.g. http://127.0.0.1:4318; "
            "/v1/traces is appended unless the URL already ends with it. None: the OTEL_EXPORTER_OTLP_* "
            "variables, else http://localhost:4318."
        ),
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Extra HTTP headers on every export, e.g. Authorization for Langfuse. "
            "OTEL_EXPORTER_OTLP_(TRACES_)HEADERS override them key by key."
        ),
    )
    sample_ratio: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description=(
            "Share of new traces recorded (ParentBased(TraceIdRatioBased)); a caller's sampled flag is "
            "honoured. Trace ids are still created and propagated for unsampled requests."
        ),
    )
    service_name: str = Field(
        default="modelgate", min_length=1, description="Resource attribute service.name."
    )
    environment: str = Field(
        default="development", min_length=1, description="Resource attribute deployment.environment.name."
    )
    capture_content: bool = Field(
        default=False,
        description=(
            "Record prompts and completions (gen_ai.input.messages / gen_ai.output.messages) on LLM spans. "
            "Off by default: content is personal data and only the operator may opt in."
        ),
    )
    redact: bool = Field(
        default=True,
        description=(
            "When content is captured, replace e-mail addresses, phone numbers and card numbers in it "
            "with placeholders before it leaves the process."
        ),
    )
    export_timeout_s: float = Field(
        default=2.0,
        gt=0.0,
        le=60.0,
        description=(
            "Deadline for one export to the backend, retries included, and the bound on flushing at "
            "shutdown. Exports run on a background thread, never on a request."
        ),
    )

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            _check_http_url(value, "tracing.endpoint")
        return value


@dataclass(frozen=True)
class ResolvedTracing:
    """Everything `setup_tracing` needs, after the environment has been applied."""

    enabled: bool
    traces_endpoint: str
    headers: dict[str, str]
    sampler: SamplerName
    sample_ratio: float
    resource_attributes: dict[str, str]
    export_timeout_s: float
    capture_content: bool
    redact: bool
    compression: Literal["gzip", "none"] = "none"
    # TLS: CA bundle verifying the collector, and a client certificate + key for mutual TLS.
    certificate: str | None = None
    client_certificate: str | None = None
    client_key: str | None = None
    # Which source each OTel-standard value came from, for the start-up log line.
    sources: dict[str, str] = field(default_factory=dict)


def resolve_tracing(
    config: TracingConfig, *, service_version: str, environ: Mapping[str, str]
) -> ResolvedTracing:
    """Apply the precedence in the module docstring. Raises `TracingConfigError` on a malformed variable."""
    sources: dict[str, str] = {}
    _check_protocol(environ)
    endpoint, sources["endpoint"] = _endpoint(config, environ)
    enabled, sources["enabled"] = _enabled(config, environ, endpoint_source=sources["endpoint"])
    compression = _compression(environ, sources)
    timeout_s = _timeout_s(config, environ, sources)
    certificate = _file_var(environ, "CERTIFICATE", sources)
    client_certificate = _file_var(environ, "CLIENT_CERTIFICATE", sources)
    client_key = _file_var(environ, "CLIENT_KEY", sources)
    if (client_certificate is None) != (client_key is None):
        raise TracingConfigError(
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY go together: set both"
        )

    headers = dict(config.headers)
    for var in ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"):
        if environ.get(var, "").strip():
            headers.update(parse_key_values(environ[var], var))
            sources["headers"] = var

    resource: dict[str, str] = {
        "service.name": config.service_name,
        "service.version": service_version,
        "deployment.environment.name": config.environment,
    }
    if environ.get("OTEL_RESOURCE_ATTRIBUTES", "").strip():
        resource.update(parse_key_values(environ["OTEL_RESOURCE_ATTRIBUTES"], "OTEL_RESOURCE_ATTRIBUTES"))
        sources["resource"] = "OTEL_RESOURCE_ATTRIBUTES"
    if environ.get("OTEL_SERVICE_NAME", "").strip():
        resource["service.name"] = environ["OTEL_SERVICE_NAME"].strip()
        sources["service.name"] = "OTEL_SERVICE_NAME"

    sampler, ratio = _sampler(config, environ, sources)
    return ResolvedTracing(
        enabled=enabled,
        traces_endpoint=endpoint,
        headers=headers,
        sampler=sampler,
        sample_ratio=ratio,
        resource_attributes=resource,
        export_timeout_s=timeout_s,
        capture_content=config.capture_content,
        redact=config.redact,
        compression=compression,
        certificate=certificate,
        client_certificate=client_certificate,
        client_key=client_key,
        sources=sources,
    )


def parse_key_values(text: str, var: str) -> dict[str, str]:
    """Parse the OTel `key1=value1,key2=value2` list (values percent-decoded), as used by
    OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS."""
    out: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key = unquote(key).strip()
        if not sep or not key:
            # Say where, never what: the value may be a credential.
            raise TracingConfigError(f"{var}: entry {len(out) + 1} is not key=value")
        out[key] = unquote(value).strip()
    return out


def _enabled(config: TracingConfig, environ: Mapping[str, str], *, endpoint_source: str) -> tuple[bool, str]:
    """On or off, and which setting decided it (the table in docs/tracing.md)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False, "OTEL_SDK_DISABLED"
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False, "OTEL_TRACES_EXPORTER"
    if exporter not in ("", "otlp"):
        raise TracingConfigError(f"OTEL_TRACES_EXPORTER={exporter}: modelgate exports traces over otlp only")
    if config.enabled != "auto":
        return config.enabled, "tracing.enabled"
    # auto: an endpoint anyone configured is the request to export there.
    return endpoint_source != "default", f"tracing.enabled=auto, endpoint from {endpoint_source}"


def _signal_var(environ: Mapping[str, str], suffix: str) -> tuple[str, str] | None:
    """`OTEL_EXPORTER_OTLP_TRACES_<suffix>` or else `OTEL_EXPORTER_OTLP_<suffix>`: (name, value) or None."""
    for var in (f"OTEL_EXPORTER_OTLP_TRACES_{suffix}", f"OTEL_EXPORTER_OTLP_{suffix}"):
        value = environ.get(var, "").strip()
        if value:
            return var, value
    return None


def _compression(environ: Mapping[str, str], sources: dict[str, str]) -> Literal["gzip", "none"]:
    found = _signal_var(environ, "COMPRESSION")
    if found is None:
        return "none"
    var, value = found
    value = value.lower()
    if value not in ("gzip", "none"):
        raise TracingConfigError(f"{var}={value}: supported values are gzip and none")
    sources["compression"] = var
    return "gzip" if value == "gzip" else "none"


def _timeout_s(config: TracingConfig, environ: Mapping[str, str], sources: dict[str, str]) -> float:
    found = _signal_var(environ, "TIMEOUT")
    if found is None:
        return config.export_timeout_s
    var, value = found
    try:
        millis = float(value)
    except ValueError:
        raise TracingConfigError(f"{var} must be a number of milliseconds") from None
    if not 0 < millis <= 60_000:
        raise TracingConfigError(f"{var} must be more than 0 and at most 60000 milliseconds")
    sources["timeout"] = var
    return millis / 1000


def _file_var(environ: Mapping[str, str], suffix: str, sources: dict[str, str]) -> str | None:
    found = _signal_var(environ, suffix)
    if found is None:
        return None
    var, value = found
    if not Path(value).is_file():
        raise TracingConfigError(f"{var}: no such file: {value}")
    sources[suffix.lower()] = var
    return value


def _endpoint(config: TracingConfig, environ: Mapping[str, str]) -> tuple[str, str]:
    signal = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if signal:
        # The spec says the signal-specific variable is used as-is, path included.
        _check_http_url(signal, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        return signal, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if base:
        _check_http_url(base, "OTEL_EXPORTER_OTLP_ENDPOINT")
        return _traces_url(base), "OTEL_EXPORTER_OTLP_ENDPOINT"
    if config.endpoint:
        return _traces_url(config.endpoint), "tracing.endpoint"
    return DEFAULT_TRACES_ENDPOINT, "default"


def _traces_url(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


def _check_http_url(value: str, name: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise TracingConfigError(f"{name} must be an http:// or https:// URL")


def _check_protocol(environ: Mapping[str, str]) -> None:
    for var in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        value = environ.get(var, "").strip()
        if value:
            if value != "http/protobuf":
                raise TracingConfigError(f"{var}={value}: modelgate exports traces over http/protobuf only")
            return


def _sampler(
    config: TracingConfig, environ: Mapping[str, str], sources: dict[str, str]
) -> tuple[SamplerName, float]:
    name = environ.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    if name:
        if name not in _SAMPLERS:
            raise TracingConfigError(
                f"OTEL_TRACES_SAMPLER={name} is not supported (one of: {', '.join(sorted(_SAMPLERS))})"
            )
        sources["sampler"] = "OTEL_TRACES_SAMPLER"
    else:
        name = "parentbased_traceidratio"
    ratio = config.sample_ratio
    arg = environ.get("OTEL_TRACES_SAMPLER_ARG", "").strip()
    if arg and name in _RATIO_SAMPLERS:
        try:
            ratio = float(arg)
        except ValueError:
            raise TracingConfigError("OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1") from None
        if not 0.0 <= ratio <= 1.0:
            raise TracingConfigError("OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1")
        sources["sample_ratio"] = "OTEL_TRACES_SAMPLER_ARG"
    return name, ratio  # type: ignore[return-value]
