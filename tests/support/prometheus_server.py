"""The tests' name for the local-Prometheus runner in monitoring.stack (shared with demo and scorecard)."""

from monitoring.stack.prometheus import (
    PrometheusError,
    PrometheusServer,
    build_config,
    find_prometheus,
    free_port,
    run_prometheus,
    write_rules,
)

__all__ = [
    "PrometheusError",
    "PrometheusServer",
    "build_config",
    "find_prometheus",
    "free_port",
    "run_prometheus",
    "write_rules",
]
