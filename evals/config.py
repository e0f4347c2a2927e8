"""The eval jobs' view of `modelgate.yaml`: the shared paths plus the `evals:` section, with defaults.

Every field of the section is listed with its description in `EvalsSection` (docs/evals.md shows them);
unknown keys are refused, so a misspelt setting is an error instead of a silent default:

    cfg = load_evals_config(None)      # --config, $MODELGATE_CONFIG, ./modelgate.yaml (optional), defaults
    cfg.history_path, cfg.regression.alpha, cfg.price_for("my-model")
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evals.judge import DEFAULT_RUBRIC, JudgeConfig
from evals.regression import RegressionConfig
from evals.suite import default_suites_dir
from gateway.configfile import ENV_VAR, ConfigFileError, load_config_file, locate_config, resolve_path
from gateway.logcontract.locations import resolve_locations
from monitoring.config import MonitoringConfig, from_mapping

__all__ = ["ConfigFileError", "EvalsConfig", "EvalsSection", "Price", "SampleSettings", "load_evals_config"]

_STRICT = ConfigDict(extra="forbid")


class RegressionSettings(BaseModel):
    model_config = _STRICT
    alpha: float = Field(
        0.01, gt=0, lt=1, description="Significance bar: a drop counts only when p <= alpha."
    )
    min_effect: float = Field(
        0.03,
        ge=0,
        le=1,
        description="Effect bar: the smallest drop in pass rate (or mean score) that counts.",
    )
    bootstrap_samples: int = Field(2000, ge=100, description="Resamples of the paired score bootstrap.")
    seed: int = Field(0, description="Seed of the bootstrap, so a verdict is reproducible.")


class JudgeSettings(BaseModel):
    model_config = _STRICT
    model: str | None = Field(None, description="Judge model; default: the model under test.")
    rubric: str = Field(DEFAULT_RUBRIC, description="Default rubric for judge items that give none.")
    scale_min: int = Field(1, description="Lowest score on the judge's integer scale.")
    scale_max: int = Field(5, description="Highest score on the judge's integer scale.")
    pass_threshold: float = Field(4, description="A raw judge score at or above this passes.")
    max_tokens: int = Field(256, ge=16, description="Token limit of the judge's reply.")


class PriceSettings(BaseModel):
    model_config = _STRICT
    input_per_mtok: float = Field(..., ge=0, description="USD per million input tokens.")
    output_per_mtok: float = Field(..., ge=0, description="USD per million output tokens.")


class SampleSettings(BaseModel):
    model_config = _STRICT
    days: int = Field(
        1, ge=1, le=90, description="Days of LLM log (UTC dates, today included) to sample from."
    )
    rate: float = Field(0.01, gt=0, le=1, description="Share of logged requests drawn into the sample.")
    seed: int = Field(0, description="Seed of the sample draw (a row is drawn by a hash of its request id).")
    max_items: int = Field(200, ge=1, description="Most rows judged per model and run (bounds judge cost).")
    baseline: str = Field("trailing:7", description="Baseline of a sample run: the previous K sample runs.")
    rubric: str = Field(DEFAULT_RUBRIC, description="Rubric the judge applies to production replies.")
    exclude_tenants: list[str] = Field(
        default_factory=list, description="Tenants never sampled, e.g. the one the eval jobs call with."
    )


class EvalsSection(BaseModel):
    """The `evals:` section of modelgate.yaml."""

    model_config = _STRICT
    suites_dir: str | None = Field(
        None, description="Folder of named suites; default: the shipped evals/suites."
    )
    history_path: str | None = Field(
        None, description="SQLite run-history file; default <data_dir>/evals/history.sqlite."
    )
    reports_dir: str | None = Field(
        None, description="Where reports go; default <monitoring reports_dir>/evals."
    )
    model: str | None = Field(None, description="Model evaluated when --model is not given.")
    concurrency: int = Field(8, ge=1, le=256, description="Items in flight at once.")
    timeout_s: float = Field(60.0, gt=0, description="Timeout of one request attempt, in seconds.")
    retries: int = Field(3, ge=0, le=10, description="Retries of a transient failure (429, 5xx, timeout).")
    retry_backoff_s: float = Field(
        0.5, ge=0, description="First retry delay; doubles each retry, with jitter."
    )
    max_error_rate: float = Field(
        0.2, ge=0, le=1, description="A run with a larger share of ERROR items is incomplete (exit 2)."
    )
    baseline: str = Field(
        "trailing:3", description="Default --baseline: the previous K runs of suite and model."
    )
    regression: RegressionSettings = Field(
        default_factory=RegressionSettings,  # type: ignore[arg-type]
        description="Regression bars.",
    )
    judge: JudgeSettings = Field(
        default_factory=JudgeSettings,  # type: ignore[arg-type]
        description="The LLM judge.",
    )
    prices: dict[str, PriceSettings] = Field(
        default_factory=dict,
        description="USD per million tokens by model; default: llm.prices of the same file.",
    )
    sample: SampleSettings = Field(
        default_factory=SampleSettings,  # type: ignore[arg-type]
        description="Judged production samples.",
    )


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1_000_000


@dataclass(frozen=True)
class EvalsConfig:
    """Everything the eval jobs need, with paths resolved against the config file's folder."""

    shared: MonitoringConfig
    section: EvalsSection
    suites_dir: Path
    history_path: Path
    reports_dir: Path
    regression: RegressionConfig
    judge: JudgeConfig
    prices: dict[str, Price] = field(default_factory=dict)

    def price_for(self, model: str) -> Price | None:
        return self.prices.get(model)


def _one_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"evals.{where}: {err['msg']}"


def from_raw(raw: dict[str, Any], base: Path, config_path: Path | None = None) -> EvalsConfig:
    """Build the config from a parsed file (tests pass a mapping). Raises ConfigFileError (one line)."""
    shared = from_mapping(raw, base, config_path)
    # The section with `MODELGATE_EVALS__*` applied, as the gateway's Settings would see it.
    section_raw = resolve_locations(raw, base).sections["evals"]
    if not isinstance(section_raw, dict):
        raise ConfigFileError("evals must be a mapping")
    try:
        section = EvalsSection.model_validate(section_raw)
        judge = JudgeConfig(**section.judge.model_dump())
        regression = RegressionConfig(**section.regression.model_dump())
    except ValidationError as exc:
        raise ConfigFileError(_one_line(exc)) from None
    except ValueError as exc:
        raise ConfigFileError(f"evals: {exc}") from None
    prices = {m: Price(p.input_per_mtok, p.output_per_mtok) for m, p in section.prices.items()}
    if not prices:
        # The gateway's own price table has the same shape; read it by schema, not by import.
        for model, p in ((raw.get("llm") or {}).get("prices") or {}).items():
            if isinstance(p, dict) and {"input_per_mtok", "output_per_mtok"} <= set(p):
                prices[str(model)] = Price(float(p["input_per_mtok"]), float(p["output_per_mtok"]))

    def path(value: str | None, default: Path) -> Path:
        return resolve_path(base, value) if value else default

    return EvalsConfig(
        shared=shared,
        section=section,
        suites_dir=path(section.suites_dir, default_suites_dir()),
        history_path=path(section.history_path, shared.data_dir / "evals" / "history.sqlite"),
        reports_dir=path(section.reports_dir, shared.reports_dir / "evals"),
        regression=regression,
        judge=judge,
        prices=prices,
    )


def load_evals_config(explicit: str | None) -> EvalsConfig:
    """Read the config. Without --config or $MODELGATE_CONFIG a missing ./modelgate.yaml means defaults
    relative to the working directory; a named file must exist. Raises ConfigFileError (one line)."""
    path = locate_config(explicit)
    if not explicit and not os.environ.get(ENV_VAR) and not path.exists():
        return from_raw({}, Path.cwd(), None)
    raw, base = load_config_file(path)
    return from_raw(raw, base, path)
