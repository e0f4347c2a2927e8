"""The simulator's settings (`SimConfig`) and its run-time fault settings (`Faults`).

`SimConfig` is fixed when the app is built; `Faults` starts from it and can be changed while the server
runs through `POST /admin/faults`, so a live test can break the upstream mid-run:

    config = SimConfig(ttft_ms=0, itl_ms=0, fail_rate=0.1)
    faults = Faults.from_config(config).updated({"status": 503, "fail_rate": 1.0})
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

__all__ = ["FAULT_STATUSES", "Faults", "SimConfig"]

FAULT_STATUSES = (500, 429, 503)


@dataclass(frozen=True)
class SimConfig:
    """Everything `create_sim_app` needs. Times are milliseconds; rates are probabilities in [0, 1]."""

    model: str = "sim-llama-3-8b"
    max_model_len: int = 8192
    ttft_ms: float = 20.0
    itl_ms: float = 5.0
    # Each simulated delay is scaled by a uniform factor in [1 - jitter, 1 + jitter].
    jitter: float = 0.1
    tokens: int = 16
    max_concurrency: int = 64
    fail_rate: float = 0.0
    fail_status: int = 500
    wrong_rate: float = 0.0
    # Added to usage.completion_tokens of every response: an upstream that bills more than it was allowed.
    overreport_tokens: int = 0
    answers_file: Path | None = None
    seed: int = 0
    # Full OTLP/HTTP traces URL (e.g. http://127.0.0.1:4318/v1/traces); None turns tracing off.
    otlp_traces_endpoint: str | None = None
    service_name: str = "vllm-sim"

    def problems(self) -> list[str]:
        """Human-readable reasons this config cannot run; empty when it can."""
        out: list[str] = []
        if not self.model:
            out.append("model must not be empty")
        for name in ("ttft_ms", "itl_ms"):
            if getattr(self, name) < 0:
                out.append(f"{name} must be >= 0")
        for name in ("tokens", "max_concurrency", "max_model_len"):
            if getattr(self, name) < 1:
                out.append(f"{name} must be >= 1")
        if self.overreport_tokens < 0:
            out.append("overreport_tokens must be >= 0")
        for name in ("fail_rate", "wrong_rate", "jitter"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                out.append(f"{name} must be between 0 and 1")
        if self.fail_status not in FAULT_STATUSES:
            out.append(f"fail_status must be one of {', '.join(map(str, FAULT_STATUSES))}")
        return out


@dataclass(frozen=True)
class Faults:
    """Fault injection in force now; replaced whole on each admin update (readers never see half)."""

    fail_rate: float = 0.0
    status: int = 500
    hang_rate: float = 0.0
    drop_rate: float = 0.0
    wrong_rate: float = 0.0
    # Sent as Retry-After on 429 and 503.
    retry_after: int = 1
    # A hung request waits this long (or until the client goes away) before it is served.
    hang_seconds: float = 3600.0
    # Added to usage.completion_tokens (and total_tokens) of every answered request, streamed or not:
    # the upstream reports more tokens than it generated, or than the request allowed.
    overreport_tokens: int = 0

    @classmethod
    def from_config(cls, config: SimConfig) -> Faults:
        return cls(
            fail_rate=config.fail_rate,
            status=config.fail_status,
            wrong_rate=config.wrong_rate,
            overreport_tokens=config.overreport_tokens,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def updated(self, patch: Mapping[str, Any]) -> Faults:
        """A copy with `patch` applied; ValueError names the first bad key or value."""
        known = {f.name for f in fields(self)}
        for key, value in patch.items():
            if key not in known:
                raise ValueError(f"unknown fault setting {key!r}; known: {', '.join(sorted(known))}")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{key} must be a number")
            if key.endswith("_rate") and not 0.0 <= value <= 1.0:
                raise ValueError(f"{key} must be between 0 and 1")
        status = patch.get("status", self.status)
        if status not in FAULT_STATUSES:
            raise ValueError(f"status must be one of {', '.join(map(str, FAULT_STATUSES))}")
        if patch.get("retry_after", 0) < 0 or patch.get("hang_seconds", 0) < 0:
            raise ValueError("retry_after and hang_seconds must be >= 0")
        overreport = patch.get("overreport_tokens", 0)
        if overreport < 0 or overreport != int(overreport):
            raise ValueError("overreport_tokens must be a whole number >= 0")
        values = dict(patch)
        if "status" in values:
            values["status"] = int(values["status"])
        for key in ("retry_after", "overreport_tokens"):
            if key in values:
                values[key] = int(values[key])
        return replace(self, **values)
