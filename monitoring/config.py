"""The monitoring jobs' view of `modelgate.yaml`: shared paths plus the `monitoring` section.

The gateway owns most of the file; the jobs read only the paths they need (docs/contracts.md) and their own
`monitoring:` section, by schema, without importing gateway internals:

    cfg = load_monitoring_config(None)            # --config, $MODELGATE_CONFIG, ./modelgate.yaml
    cfg.prediction_log_uri, cfg.artifact_dir, cfg.section("drift")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.configfile import ConfigFileError, load_config_file, locate_config, resolve_path, resolve_uri

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


def _get(raw: dict[str, Any], dotted: str) -> Any:
    node: Any = raw
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _mapping(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigFileError(f"{key} must be a mapping")
    return value


def from_mapping(raw: dict[str, Any], base: Path, config_path: Path | None = None) -> MonitoringConfig:
    """Build the config from an already-parsed mapping (tests build one directly)."""
    data_dir = resolve_path(base, _get(raw, "data_dir") or "data")

    def uri(dotted: str, default: str) -> str:
        value = _get(raw, dotted)
        return resolve_uri(base, str(value)) if value else str(data_dir / default)

    def path(dotted: str, default: str) -> Path:
        value = _get(raw, dotted)
        return resolve_path(base, str(value)) if value else data_dir / default

    monitoring = _mapping(raw, "monitoring")
    labels_uri = monitoring.get("labels_uri")
    return MonitoringConfig(
        config_path=config_path,
        data_dir=data_dir,
        prediction_log_uri=uri("prediction_log.uri", "predictions"),
        llm_log_uri=uri("llm.log_uri", "llm-log"),
        artifact_dir=path("churn.artifact_dir", "models/churn"),
        results_dir=path("jobs.results_dir", "jobs"),
        reports_dir=path("monitoring.reports_dir", "reports"),
        labels_uri=resolve_uri(base, str(labels_uri)) if labels_uri else str(data_dir / "labels"),
        pushgateway_url=_get(raw, "jobs.pushgateway_url") or None,
        monitoring=monitoring,
        schedule=_mapping(raw, "schedule"),
    )


def load_monitoring_config(explicit: str | None) -> MonitoringConfig:
    """Locate and read the config file. Raises ConfigFileError with a one-line message."""
    path = locate_config(explicit)
    raw, base = load_config_file(path)
    return from_mapping(raw, base, path)
