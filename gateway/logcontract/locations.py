"""Where the logs, the churn artifact and the job results live: one resolver for the gateway and every job.

The gateway's `Settings` reads `modelgate.yaml` and lets `MODELGATE_*` environment variables win over it
(pydantic-settings: prefix `MODELGATE_`, `__` between levels, names case-insensitive, a whole section may
be given as JSON). The jobs must see the same locations, or `MODELGATE_PREDICTION_LOG__URI` would move
the writer and leave `modelgate drift` reading the old folder. So the jobs resolve through `Locations`,
built by the same pydantic-settings machinery with the same options, over the same file mapping, and the
gateway's `Settings` takes its defaults from the functions below (`tests/contracts` checks both agree):

    loc = resolve_locations(raw, base)          # raw: the parsed YAML, base: the config file's folder
    loc.prediction_log_uri, loc.llm_log_uri, loc.results_dir, loc.sections["monitoring"]

Relative paths (from the file or from the environment) resolve against the config file's folder;
object-store URIs (`s3://`, `gs://`) pass through untouched.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = [
    "ENV_NESTED_DELIMITER",
    "ENV_PREFIX",
    "Locations",
    "LocationsError",
    "artifact_dir",
    "llm_log_uri",
    "prediction_log_uri",
    "resolve_locations",
    "resolve_path",
    "resolve_uri",
    "results_dir",
]

ENV_PREFIX = "MODELGATE_"
ENV_NESTED_DELIMITER = "__"
# The default folder of each location under `data_dir` (docs/contracts.md, "Shared paths").
PREDICTIONS_DIR = "predictions"
LLM_LOG_DIR = "llm-log"
ARTIFACT_DIR = "models/churn"
RESULTS_DIR = "jobs"


class LocationsError(Exception):
    """A location in the config or the environment has the wrong shape; the message is one line."""


def resolve_path(base: Path, value: str | os.PathLike[str]) -> Path:
    """A path from the config: absolute as written, else relative to the config file's folder."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p)


def resolve_uri(base: Path, value: str) -> str:
    """Like `resolve_path`, but object-store URIs (`s3://`, `gs://`, …) pass through untouched."""
    if "://" in value and not value.startswith("file://"):
        return value
    if value.startswith("file://"):
        value = value[len("file://") :]
    return str(resolve_path(base, value))


def prediction_log_uri(configured: str | None, data_dir: Path) -> str:
    return configured or str(data_dir / PREDICTIONS_DIR)


def llm_log_uri(configured: str | None, data_dir: Path) -> str:
    return configured or str(data_dir / LLM_LOG_DIR)


def artifact_dir(configured: Path | None, data_dir: Path) -> Path:
    return configured or data_dir / ARTIFACT_DIR


def results_dir(configured: Path | None, data_dir: Path) -> Path:
    return configured or data_dir / RESULTS_DIR


class _Loose(BaseModel):
    # The gateway validates its own sections strictly; here only the location fields matter.
    model_config = ConfigDict(extra="ignore")


class _PredictionLog(_Loose):
    uri: str | None = None


class _LLM(_Loose):
    log_uri: str | None = None


class _Churn(_Loose):
    artifact_dir: str | None = None


class _Jobs(_Loose):
    results_dir: str | None = None
    pushgateway_url: str | None = None


class _Overlay(BaseSettings):
    """The file's mapping with `MODELGATE_*` applied: the same source order and options as `Settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_NESTED_DELIMITER, extra="ignore"
    )

    data_dir: str = "data"
    prediction_log: _PredictionLog = Field(default_factory=_PredictionLog)
    llm: _LLM = Field(default_factory=_LLM)
    churn: _Churn = Field(default_factory=_Churn)
    jobs: _Jobs = Field(default_factory=_Jobs)
    monitoring: dict[str, Any] = Field(default_factory=dict)
    evals: dict[str, Any] = Field(default_factory=dict)
    schedule: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return env_settings, init_settings  # as gateway.settings.Settings: env wins over the file


@dataclass(frozen=True)
class Locations:
    """Every shared location, resolved; `sections`: `monitoring`, `evals`, `schedule`, env applied."""

    data_dir: Path
    prediction_log_uri: str
    llm_log_uri: str
    artifact_dir: Path
    results_dir: Path
    pushgateway_url: str | None
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)


def _none_if_blank(value: str | None) -> str | None:
    return value if value else None


def resolve_locations(raw: Mapping[str, Any], base: Path) -> Locations:
    """Apply `MODELGATE_*` (read now, from `os.environ`) to the file's mapping and resolve every location."""
    keep = {k: raw[k] for k in _Overlay.model_fields if raw.get(k) is not None}
    try:
        merged = _Overlay(**keep)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        raise LocationsError(f"{where}: {err['msg']}") from None
    data_dir = resolve_path(base, merged.data_dir)

    def uri(value: str | None) -> str | None:
        return None if not value else resolve_uri(base, value)

    def path(value: str | None) -> Path | None:
        return None if not value else resolve_path(base, value)

    return Locations(
        data_dir=data_dir,
        prediction_log_uri=prediction_log_uri(uri(merged.prediction_log.uri), data_dir),
        llm_log_uri=llm_log_uri(uri(merged.llm.log_uri), data_dir),
        artifact_dir=artifact_dir(path(merged.churn.artifact_dir), data_dir),
        results_dir=results_dir(path(merged.jobs.results_dir), data_dir),
        pushgateway_url=_none_if_blank(merged.jobs.pushgateway_url),
        sections={"monitoring": merged.monitoring, "evals": merged.evals, "schedule": merged.schedule},
    )
