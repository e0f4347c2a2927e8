"""The monitoring jobs' view of `modelgate.yaml`: shared paths plus the `monitoring` section.

The gateway owns most of the file; the jobs read only the paths they need and their own `monitoring:`
section. The paths come from the log contract's resolver (`gateway.logcontract.locations`), which applies
the `MODELGATE_*` overrides exactly as the gateway does, so a job reads where the gateway writes:

    cfg = load_monitoring_config(None)            # --config, $MODELGATE_CONFIG, ./modelgate.yaml
    cfg.prediction_log_uri, cfg.artifact_dir, cfg.section("drift")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.configfile import ConfigFileError, load_config_file, locate_config
from gateway.logcontract.locations import LocationsError, resolve_locations, resolve_path, resolve_uri

__all__ = ["ConfigFileError", "MonitoringConfig", "load_monitoring_config"]


@dataclass(frozen=True)
class MonitoringConfig:
    """Where the jobs read and write; every path already resolved against the config file's folder."""

    config_path: Path | None
    data_dir: Path
    prediction_log_uri: str
    llm_log_uri: str
    artifact_dir: Path
    results_dir: Path
    reports_dir: Path
    labels_uri: str
    pushgateway_url: str | None
    monitoring: dict[str, Any] = field(default_factory=dict)
    schedule: dict[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        """`monitoring.<name>` as a mapping (empty when absent); each job validates its own keys."""
        value = self.monitoring.get(name) or {}
        if not isinstance(value, dict):
            raise ConfigFileError(f"monitoring.{name} must be a mapping")
        return value


def from_mapping(raw: dict[str, Any], base: Path, config_path: Path | None = None) -> MonitoringConfig:
    """Build the config from an already-parsed mapping plus the environment (tests build one directly)."""
    try:
        loc = resolve_locations(raw, base)
    except LocationsError as exc:
        raise ConfigFileError(f"config: {exc}") from None
    monitoring = loc.sections["monitoring"]
    labels_uri = monitoring.get("labels_uri")
    reports_dir = monitoring.get("reports_dir")
    return MonitoringConfig(
        config_path=config_path,
        data_dir=loc.data_dir,
        prediction_log_uri=loc.prediction_log_uri,
        llm_log_uri=loc.llm_log_uri,
        artifact_dir=loc.artifact_dir,
        results_dir=loc.results_dir,
        reports_dir=resolve_path(base, str(reports_dir)) if reports_dir else loc.data_dir / "reports",
        labels_uri=resolve_uri(base, str(labels_uri)) if labels_uri else str(loc.data_dir / "labels"),
        pushgateway_url=loc.pushgateway_url,
        monitoring=monitoring,
        schedule=loc.sections["schedule"],
    )


def load_monitoring_config(explicit: str | None) -> MonitoringConfig:
    """Locate and read the config file. Raises ConfigFileError with a one-line message."""
    path = locate_config(explicit)
    raw, base = load_config_file(path)
    return from_mapping(raw, base, path)
