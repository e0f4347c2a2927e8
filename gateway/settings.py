"""The gateway's one typed settings object, loaded from `modelgate.yaml` plus `MODELGATE_*` env overrides.

Built once at start-up and validated there, so a bad config stops the server with one line naming the field:

    settings = load_settings(None)          # --config, $MODELGATE_CONFIG, ./modelgate.yaml
    settings.server.port, settings.churn.artifact_dir

Env overrides use `MODELGATE_` and `__` between levels: `MODELGATE_SERVER__PORT=9000`,
`MODELGATE_LLM__UPSTREAM_URL=http://…`. They win over the file. Every field carries a description
(docs/configuration.md is generated from them; a test checks none is missing).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gateway.configfile import ConfigFileError, load_config_file, locate_config
from gateway.llm.settings import LLMSettings, PriceSettings
from gateway.logcontract import locations
from gateway.logcontract.locations import resolve_path, resolve_uri
from gateway.routing.config import (
    ReplicaSpec,
    fleet_problems,
    fleet_specs,
)
from gateway.tracing.config import TracingConfig

__all__ = [
    "AdminSettings",
    "BudgetSettings",
    "ChurnSettings",
    "ConfigError",
    "JobsSettings",
    "LLMSettings",
    "LogsSettings",
    "PredictionLogSettings",
    "PriceSettings",
    "ServerSettings",
    "Settings",
    "TenancySettings",
    "TenantSettings",
    "load_settings",
]

_STRICT = ConfigDict(extra="forbid")


class ConfigError(Exception):
    """The config is unusable; the message is one line that names the file and the field."""


class ServerSettings(BaseModel):
    model_config = _STRICT
    host: str = Field("127.0.0.1", description="Address uvicorn binds to.")
    port: int = Field(
        8000, ge=1, le=65535, description="Port uvicorn listens on (PORT overrides in make run)."
    )
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest request body accepted; larger bodies get 413."
    )
    graceful_shutdown_s: float = Field(
        20.0,
        gt=0,
        description="How long SIGTERM waits for in-flight requests before cancelling them (fractions ok).",
    )
    drain_timeout_s: float = Field(
        10.0,
        gt=0,
        description="After that, how long shutdown waits for cancelled LLM calls to settle and log their "
        "outcome before the ledger and the log writer close.",
    )
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description=(
            "Serve /metrics on its own listener on this port (and not on the API port); null = /metrics "
            "on the API port."
        ),
    )
    metrics_host: str = Field(
        "127.0.0.1", description="Address the separate /metrics listener binds to (with metrics_port)."
    )
    metrics_token_sha256: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{64}$",
        description=(
            "SHA-256 (hex) of a bearer token that /metrics then requires (Prometheus: "
            "`authorization: {credentials_file: …}`); null = no token."
        ),
    )
    docs_enabled: bool = Field(
        True, description="Serve the interactive API docs (/docs) and the OpenAPI document (/openapi.json)."
    )
    body_read_timeout_s: float = Field(
        30.0,
        gt=0,
        description="Longest a client may take to send a whole request body; slower gets 408 and is closed.",
    )
    header_read_timeout_s: float = Field(
        10.0,
        gt=0,
        description=(
            "Longest a connection may take to send a request's headers, from connecting or from the "
            "request's first byte; slower is closed."
        ),
    )
    max_connections: int = Field(
        1024,
        ge=1,
        description="Most open connections and in-flight requests; beyond it requests get 503 (uvicorn).",
    )
    keep_alive_timeout_s: float = Field(
        5.0, gt=0, description="An idle keep-alive connection is closed after this many seconds."
    )


class TenantSettings(BaseModel):
    model_config = _STRICT
    name: str = Field(
        ...,
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="Tenant name: lower-case letters, digits, '-' and '_'. Used as a metric label value.",
    )
    key_sha256: str = Field(
        ..., pattern=r"^[0-9a-f]{64}$", description="SHA-256 (hex) of the tenant's API key; never the key."
    )
    daily_usd: float | None = Field(
        None, ge=0, description="Hard LLM budget per UTC day in USD; null = none."
    )
    monthly_usd: float | None = Field(
        None, ge=0, description="Hard LLM budget per UTC calendar month in USD; null = none."
    )
    rpm: int | None = Field(
        None, ge=1, description="LLM requests per minute, shared by all replicas; null = unlimited."
    )
    tpm: int | None = Field(
        None,
        ge=1,
        description="LLM tokens per minute (worst case held at admission, corrected at settlement); "
        "null = unlimited.",
    )
    max_concurrency: int | None = Field(
        None, ge=1, description="Most LLM requests of this tenant in flight at once; null = unlimited."
    )


class ChurnSettings(BaseModel):
    model_config = _STRICT
    artifact_dir: Path | None = Field(
        None, description="Folder of the trained churn artifact; default <data_dir>/models/churn."
    )
    batch_limit: int = Field(1000, ge=1, le=100_000, description="Most instances in one batch request.")
    train_rows: int = Field(
        20_000, ge=1000, description="Rows `serve` trains on when no artifact exists (development mode only)."
    )
    train_seed: int = Field(7, description="Seed for that training run.")


class PredictionLogSettings(BaseModel):
    model_config = _STRICT
    enabled: bool = Field(True, description="Write every accepted churn prediction to the Parquet log.")
    uri: str | None = Field(
        None,
        description="Folder or object-store URI (s3://, gs://) of the log; default <data_dir>/predictions.",
    )
    flush_rows: int = Field(5000, ge=1, description="Write a Parquet file once this many rows are buffered.")
    flush_seconds: float = Field(2.0, gt=0, description="…or once the oldest buffered row is this old.")
    queue_size: int = Field(
        100_000, ge=10, description="Rows waiting to be written; beyond it rows are dropped and counted."
    )


class BudgetSettings(BaseModel):
    model_config = _STRICT
    backend: Literal["sqlite", "redis"] = Field(
        "sqlite", description="Spend ledger: sqlite (one host) or redis."
    )
    sqlite_path: Path | None = Field(
        None, description="SQLite ledger file; default <data_dir>/ledger.sqlite."
    )
    redis_url: str | None = Field(
        None, description="Redis URL for the shared ledger, e.g. redis://host:6379/0."
    )
    soft_fraction: float = Field(
        0.8, gt=0, le=1, description="Share of a budget at which the soft-limit alert fires."
    )
    reservation_ttl_s: float = Field(
        600.0, gt=0, description="A reservation never settled (crashed replica) stops counting after this."
    )
    journal_dir: Path | None = Field(
        None,
        description="Where settlements the ledger could not take wait to be retried; default "
        "<data_dir>/settle-journal (local disk, one per replica).",
    )


class LogsSettings(BaseModel):
    model_config = _STRICT
    compaction_period: Literal["hour", "day"] = Field(
        "hour", description="`modelgate logs compact` rewrites each closed hour (or day) of a partition."
    )
    compaction_target_mb: float = Field(
        128.0, gt=0, description="Largest compacted file, in MiB; a bigger period is split into several."
    )
    retention_days: int | None = Field(
        None, ge=1, description="Delete `date=` partitions older than this many days; null = keep all."
    )
    stale_tmp_minutes: float = Field(
        60.0, gt=0, description="Temporary files older than this (a killed writer's) are removed."
    )
    sample_rows: int = Field(
        10_000,
        ge=0,
        description="Rows of the uniform sample `modelgate logs compact` keeps beside each compacted period "
        "of the prediction log, from which large drift windows are drawn; 0 = keep none.",
    )


class TenancySettings(BaseModel):
    model_config = _STRICT
    sqlite_path: Path | None = Field(
        None,
        description="SQLite tenant store (budgets.backend sqlite); default <data_dir>/tenants.sqlite. "
        "With budgets.backend redis the tenants live in budgets.redis_url.",
    )
    refresh_interval_s: float = Field(
        0.25,
        gt=0,
        le=1.0,
        description="How often each replica checks the store for new tenants, keys and revocations.",
    )


class AdminSettings(BaseModel):
    model_config = _STRICT
    key_sha256: list[str] = Field(
        default_factory=list,
        description="SHA-256 (hex) of the admin API keys (`modelgate admin create-key` adds one); "
        "empty = the admin API refuses every request.",
    )

    @field_validator("key_sha256", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("key_sha256")
    @classmethod
    def _hex(cls, value: list[str]) -> list[str]:
        for i, h in enumerate(value):
            if not re.fullmatch(r"[0-9a-f]{64}", h):
                raise ValueError(f"admin.key_sha256[{i}]: expected 64 lower-case hex digits")
        return value


class JobsSettings(BaseModel):
    model_config = _STRICT
    results_dir: Path | None = Field(
        None, description="Where jobs write their result files; default <data_dir>/jobs."
    )
    pushgateway_url: str | None = Field(None, description="Pushgateway that jobs also push to; optional.")


class Settings(BaseSettings):
    """Everything the gateway needs to start. Sections owned by other packages stay opaque mappings."""

    model_config = SettingsConfigDict(
        env_prefix=locations.ENV_PREFIX,
        env_nested_delimiter=locations.ENV_NESTED_DELIMITER,
        extra="forbid",
        validate_default=True,
    )

    mode: Literal["development", "production"] = Field(
        "development",
        description=(
            "production refuses a development key, and a missing churn artifact (it never trains on "
            "synthetic data)."
        ),
    )
    data_dir: Path = Field(Path("data"), description="Root for models, logs, ledgers and job results.")
    server: ServerSettings = Field(default_factory=ServerSettings, description="HTTP server.")  # type: ignore[arg-type]
    tenants: list[TenantSettings] = Field(
        default_factory=list,
        description="Tenants and their key hashes, imported into the tenant store at start-up and on SIGHUP.",
    )
    tenancy: TenancySettings = Field(
        default_factory=TenancySettings,  # type: ignore[arg-type]
        description="Tenant store shared by replicas.",
    )
    admin: AdminSettings = Field(default_factory=AdminSettings, description="Admin API (/admin/v1/).")
    development_key: str | None = Field(
        None,
        min_length=16,
        description="A plain API key for the 'dev' tenant; allowed in development mode only.",
    )
    churn: ChurnSettings = Field(default_factory=ChurnSettings, description="Churn model.")  # type: ignore[arg-type]
    prediction_log: PredictionLogSettings = Field(
        default_factory=PredictionLogSettings,  # type: ignore[arg-type]
        description="Churn prediction log.",
    )
    llm: LLMSettings = Field(default_factory=LLMSettings, description="LLM upstream and pricing.")  # type: ignore[arg-type]
    budgets: BudgetSettings = Field(default_factory=BudgetSettings, description="Spend ledger.")  # type: ignore[arg-type]
    tracing: TracingConfig = Field(default_factory=TracingConfig, description="OpenTelemetry tracing.")  # type: ignore[arg-type]
    jobs: JobsSettings = Field(default_factory=JobsSettings, description="Job results.")  # type: ignore[arg-type]
    logs: LogsSettings = Field(
        default_factory=LogsSettings,  # type: ignore[arg-type]
        description="Compaction and retention of both request logs.",
    )
    monitoring: dict[str, Any] = Field(
        default_factory=dict, description="Owned by monitoring/ (drift, labels)."
    )
    evals: dict[str, Any] = Field(default_factory=dict, description="Owned by evals/.")
    schedule: dict[str, Any] = Field(default_factory=dict, description="Owned by `modelgate schedule`.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init kwargs; env overrides win over them.
        return env_settings, init_settings

    @field_validator("tenants", mode="before")
    @classmethod
    def _no_tenants_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value  # `tenants:` with no entries parses as null

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.development_key and self.mode != "development":
            raise ValueError(
                "development_key: a development key is configured but mode is 'production'; remove it"
            )
        names = [t.name for t in self.tenants]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"tenants: duplicate tenant name {dupes[0]!r}")
        if self.development_key and "dev" in names:
            raise ValueError("tenants: 'dev' is reserved for the development key")
        llm = self.llm
        problems = fleet_problems(llm.upstream_url, llm.upstreams, llm.fallbacks, llm.routing)
        if problems:
            raise ValueError("\n".join(problems))
        for upstream in llm.upstreams:  # a fleet's models are served models: labelled and priced
            llm.models.extend(m for m in upstream.models if m not in llm.models)
        if self.llm_configured and llm.billing:
            missing = [m for m in llm.models if m not in llm.prices]
            if missing:
                raise ValueError(f"llm.prices: no price for model {missing[0]!r} while billing is on")
        if self.budgets.reservation_ttl_s <= self.llm.total_timeout_s:
            raise ValueError(
                "budgets.reservation_ttl_s: must be longer than llm.total_timeout_s, or a request still "
                "running would stop being held against the budget"
            )
        if self.server.metrics_port is not None and self.server.metrics_port == self.server.port:
            raise ValueError("server.metrics_port: must differ from server.port")
        if (
            self.mode == "production"
            and self.server.metrics_port is None
            and self.server.metrics_token_sha256 is None
        ):
            raise ValueError(
                "server.metrics_port: in production mode /metrics (every tenant's spend and tokens) must "
                "not be open on the API port: set server.metrics_port (its own listener) or "
                "server.metrics_token_sha256 (a bearer token)"
            )
        if self.budgets.backend == "redis" and not self.budgets.redis_url:
            raise ValueError("budgets.redis_url: required when budgets.backend is 'redis'")
        return self

    @property
    def llm_configured(self) -> bool:
        """True when the LLM lane has at least one upstream."""
        return bool(self.llm.upstream_url or self.llm.upstreams)

    def fleet(self) -> list[ReplicaSpec]:
        """The replicas the router balances over (llm.upstream_url is a fleet of one)."""
        return fleet_specs(self.llm.upstream_url, self.llm.upstreams, self.llm.models)

    # Resolved locations (relative paths were made absolute by `resolved`).
    @property
    def artifact_dir(self) -> Path:
        return locations.artifact_dir(self.churn.artifact_dir, self.data_dir)

    @property
    def prediction_log_uri(self) -> str:
        return locations.prediction_log_uri(self.prediction_log.uri, self.data_dir)

    @property
    def llm_log_uri(self) -> str:
        return locations.llm_log_uri(self.llm.log_uri, self.data_dir)

    @property
    def ledger_path(self) -> Path:
        return self.budgets.sqlite_path or self.data_dir / "ledger.sqlite"

    @property
    def tenant_store_path(self) -> Path:
        return self.tenancy.sqlite_path or self.data_dir / "tenants.sqlite"

    @property
    def settle_journal_dir(self) -> Path:
        return self.budgets.journal_dir or self.data_dir / "settle-journal"

    @property
    def results_dir(self) -> Path:
        return locations.results_dir(self.jobs.results_dir, self.data_dir)

    def resolved(self, base: Path) -> Settings:
        """A copy whose relative paths are made absolute against `base` (the config file's folder)."""
        data_dir = resolve_path(base, self.data_dir)

        def opt(p: Path | None) -> Path | None:
            return None if p is None else resolve_path(base, p)

        def opt_uri(u: str | None) -> str | None:
            return None if u is None else resolve_uri(base, u)

        return self.model_copy(
            update={
                "data_dir": data_dir,
                "churn": self.churn.model_copy(update={"artifact_dir": opt(self.churn.artifact_dir)}),
                "prediction_log": self.prediction_log.model_copy(
                    update={"uri": opt_uri(self.prediction_log.uri)}
                ),
                "llm": self.llm.model_copy(update={"log_uri": opt_uri(self.llm.log_uri)}),
                "budgets": self.budgets.model_copy(
                    update={
                        "sqlite_path": opt(self.budgets.sqlite_path),
                        "journal_dir": opt(self.budgets.journal_dir),
                    }
                ),
                "jobs": self.jobs.model_copy(update={"results_dir": opt(self.jobs.results_dir)}),
                "tenancy": self.tenancy.model_copy(update={"sqlite_path": opt(self.tenancy.sqlite_path)}),
            }
        )


def describe_validation_error(exc: ValidationError, source: str) -> str:
    """One line naming the first bad field: `modelgate.yaml: server.port: Input should be ≤ 65535`."""
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
        # Our own validators already name their field; several mistakes arrive one per line.
        return "\n".join(f"{source}: {line}" for line in msg.splitlines())
    if err["type"] == "extra_forbidden":
        msg = "unknown field (check the spelling; see docs/configuration.md)"
    return f"{source}: {loc}: {msg}"


def settings_from_mapping(raw: dict[str, Any], base: Path, source: str = "config") -> Settings:
    """Validate a parsed config mapping (plus env overrides) and resolve its paths against `base`."""
    try:
        settings = Settings(**raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source)) from None
    return settings.resolved(base)


def load_settings(explicit: str | Path | None) -> Settings:
    """Locate, read and validate the config. Raises ConfigError with one line for the user."""
    path = locate_config(explicit)
    try:
        raw, base = load_config_file(path)
    except ConfigFileError as exc:
        raise ConfigError(str(exc)) from None
    return settings_from_mapping(raw, base, str(path))
