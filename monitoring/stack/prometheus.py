"""Run Debian's real `prometheus` against the project's prometheus.yml, recording_rules.yml and alerts.yml.

For `modelgate demo` and the integration tests: the config is the repository's own, with only what a
test must change rewritten —
the targets of each scrape job (jobs not given are dropped, so nothing scrapes the fixed ports other
tests may be using), a short scrape and evaluation interval (for every rule group too), the rule files by
absolute path, optionally every alert's `for:` (so an injected fault fires in seconds), and no
Alertmanager unless one is given.
Storage lives in a temporary directory and the server listens on a free loopback port:

    targets = {"modelgate": ["127.0.0.1:8123"], "vllm": ["127.0.0.1:8124"]}
    with run_prometheus(targets, for_override="0s") as prom:
        prom.wait_until(lambda: prom.query('up{job="modelgate"} == 1'), timeout=15)
        firing = prom.wait_until(lambda: prom.firing("LLMUpstreamDown"), timeout=30)

The rule and config files are read from the repository checkout (the demo runs from one).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

from monitoring.stack.processes import free_port, stop_process

__all__ = ["PrometheusError", "PrometheusServer", "find_prometheus", "free_port", "run_prometheus"]

ROOT = Path(__file__).resolve().parents[2]
RULE_FILES = ("recording_rules.yml", "alerts.yml")
T = TypeVar("T")


class PrometheusError(RuntimeError):
    """Prometheus could not be started, or did not answer as expected; the message has its log's tail."""


def find_prometheus() -> str | None:
    """Path of the `prometheus` binary, or None when it is not installed."""
    return shutil.which("prometheus")


@dataclass
class PrometheusServer:
    """A running Prometheus: its base URL, the config it runs with, and small HTTP API helpers."""

    url: str
    config_path: Path
    log_path: Path
    client: httpx.Client

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path> and return its `data`; raises PrometheusError on an error answer."""
        response = self.client.get(f"{self.url}/api/v1/{path}", params=params)
        body = response.json()
        if response.status_code != 200 or body.get("status") != "success":
            raise PrometheusError(f"/api/v1/{path} answered {response.status_code}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector: [{"metric": {...}, "value": [ts, "v"]}, ...]."""
        data = self.api("query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        """Pending and firing alerts: [{"labels": {...}, "annotations": {...}, "state": ...}, ...]."""
        alerts: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return alerts

    def firing(self, alertname: str) -> list[dict[str, Any]]:
        """The firing alerts of one name (empty while none fires)."""
        return [
            a for a in self.alerts() if a["labels"].get("alertname") == alertname and a["state"] == "firing"
        ]

    def targets(self) -> list[dict[str, Any]]:
        """Active scrape targets with their `health` and `lastError`."""
        targets: list[dict[str, Any]] = self.api("targets")["activeTargets"]
        return targets

    def wait_until(self, check: Callable[[], T], *, timeout: float, interval: float = 0.25) -> T:
        """Call `check` until it returns something truthy and return that; PrometheusError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise PrometheusError(f"condition not met within {timeout:g}s\n{_tail(self.log_path)}")
            time.sleep(interval)


def build_config(
    targets: Mapping[str, Sequence[str]],
    *,
    rule_dir: Path,
    interval: str,
    alertmanager: str | None,
    source: Path = ROOT / "prometheus.yml",
) -> dict[str, Any]:
    """prometheus.yml with the given targets per job, a short interval and absolute rule-file paths."""
    config: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    unknown = set(targets) - set(jobs)
    if unknown:
        raise ValueError(f"no scrape job named {sorted(unknown)} in {source.name}; it has {sorted(jobs)}")
    config["global"].update(scrape_interval=interval, scrape_timeout=interval, evaluation_interval=interval)
    config["scrape_configs"] = [
        {**jobs[name], "static_configs": [{"targets": list(addresses)}]}
        for name, addresses in targets.items()
    ]
    config["rule_files"] = [str(rule_dir / name) for name in RULE_FILES]
    if alertmanager is None:
        config.pop("alerting", None)
    else:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    return config


def write_rules(rule_dir: Path, for_override: str | None) -> None:
    """Copy the rule files into rule_dir, every group on the global (short) evaluation interval, and with
    every alert's `for:` replaced when asked."""
    for name in RULE_FILES:
        spec = yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))
        for group in spec["groups"]:
            group.pop("interval", None)
        if for_override is not None:
            for group in spec["groups"]:
                for rule in group["rules"]:
                    if "alert" in rule:
                        rule["for"] = for_override
        (rule_dir / name).write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")


@contextlib.contextmanager
def run_prometheus(
    targets: Mapping[str, Sequence[str]],
    *,
    interval: str = "1s",
    for_override: str | None = None,
    alertmanager: str | None = None,
    ready_timeout: float = 30.0,
    extra_args: Sequence[str] = (),
) -> Iterator[PrometheusServer]:
    """Start Prometheus with the project's config rewritten for a test; stop it and delete its data after.

    `targets` maps scrape job names of prometheus.yml ("modelgate", "vllm", "pushgateway") to host:port
    addresses; jobs not named are not scraped. Raises PrometheusError when the binary is missing or the
    server is not ready within `ready_timeout` seconds.
    """
    binary = find_prometheus()
    if binary is None:
        raise PrometheusError("the prometheus binary is not installed (apt-get install prometheus)")
    with tempfile.TemporaryDirectory(prefix="modelgate-prometheus-") as tmp:
        work = Path(tmp)
        write_rules(work, for_override)
        config_path = work / "prometheus.yml"
        config = build_config(targets, rule_dir=work, interval=interval, alertmanager=alertmanager)
        config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        log_path = work / "prometheus.log"
        # A free port can be taken between probing and binding: try a few times.
        for attempt in range(3):
            port = free_port()
            process = _start(binary, config_path, work / "data", port, log_path, extra_args)
            try:
                with httpx.Client(timeout=5.0) as client:
                    server = PrometheusServer(f"http://127.0.0.1:{port}", config_path, log_path, client)
                    if _wait_ready(server, process, ready_timeout):
                        yield server
                        return
                if attempt == 2 or "address already in use" not in log_path.read_text(errors="replace"):
                    raise PrometheusError(f"prometheus did not become ready\n{_tail(log_path)}")
            finally:
                stop_process(process, timeout=10)


def _start(
    binary: str, config: Path, data: Path, port: int, log_path: Path, extra_args: Sequence[str]
) -> subprocess.Popen[bytes]:
    args = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--enable-feature=exemplar-storage",
        "--log.level=warn",
        *extra_args,
    ]
    with log_path.open("ab") as log:
        return subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=config.parent,
            env=os.environ.copy(),
        )


def _wait_ready(server: PrometheusServer, process: subprocess.Popen[bytes], timeout: float) -> bool:
    """True once /-/ready answers 200; False if the process exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with contextlib.suppress(httpx.HTTPError):
            if server.client.get(f"{server.url}/-/ready").status_code == 200:
                return True
        time.sleep(0.1)
    return False


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
