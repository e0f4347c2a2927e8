"""The tests' name for the local-Prometheus runner, which lives with the demo that also uses it."""

from gateway.demo.prometheus import (
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
