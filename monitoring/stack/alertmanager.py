"""Run Debian's real Alertmanager (`prometheus-alertmanager`) with the project's deploy/alertmanager.yml.

Only what a run on loopback must change is rewritten: each receiver's webhook URL (to a local sink), and
optionally the group waits and intervals (minutes in production, a second here, so a test sees its
notification at once). Routing, grouping and inhibition are the file's own. Clustering is off (it would
bind 0.0.0.0:9094), storage lives in a temporary directory, and the server listens on a free port:

    with WebhookSink() as sink, run_alertmanager({"pager": sink.url("/page"),
                                                  "tickets": sink.url("/ticket")}) as am:
        with run_prometheus(targets, alertmanager=am.address) as prom: ...
"""

from __future__ import annotations

import contextlib
import copy
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from monitoring.stack.processes import free_port, stop_process

__all__ = ["AlertmanagerError", "AlertmanagerServer", "build_alertmanager_config", "run_alertmanager"]

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "alertmanager.yml"
BINARY = "prometheus-alertmanager"


class AlertmanagerError(RuntimeError):
    """Alertmanager could not be started or did not become ready; the message has its log's tail."""


@dataclass
class AlertmanagerServer:
    url: str
    address: str  # host:port, for prometheus.yml's alerting section
    client: httpx.Client

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """Alerts Alertmanager holds (API v2), with their `status.inhibitedBy` and `status.state`."""
        response = self.client.get(f"{self.url}/api/v2/alerts", params=filters)
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()
        return alerts


def _walk_routes(route: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield route
    for child in route.get("routes", []):
        yield from _walk_routes(child)


def build_alertmanager_config(
    receivers: Mapping[str, str], *, wait: str | None = "1s", source: Path = CONFIG
) -> dict[str, Any]:
    """deploy/alertmanager.yml with each named receiver's webhooks posting to the given URL.

    `wait` replaces every group_wait / group_interval (None keeps the file's); repeat intervals stay
    long so a test counts one notification per change.
    """
    config: dict[str, Any] = copy.deepcopy(yaml.safe_load(source.read_text(encoding="utf-8")))
    known = {r["name"] for r in config["receivers"]}
    unknown = set(receivers) - known
    if unknown:
        raise ValueError(f"no receiver named {sorted(unknown)} in {source.name}; it has {sorted(known)}")
    for receiver in config["receivers"]:
        if receiver["name"] in receivers:
            for hook in receiver.get("webhook_configs", []):
                hook["url"] = receivers[receiver["name"]]
    if wait is not None:
        for route in _walk_routes(config["route"]):
            if "group_wait" in route or route is config["route"]:
                route["group_wait"] = wait
            if "group_interval" in route or route is config["route"]:
                route["group_interval"] = wait
    return config


@contextlib.contextmanager
def run_alertmanager(
    receivers: Mapping[str, str], *, wait: str | None = "1s", ready_timeout: float = 30.0
) -> Iterator[AlertmanagerServer]:
    """Start Alertmanager with the rewritten config; stop it and delete its state after."""
    binary = shutil.which(BINARY)
    if binary is None:
        raise AlertmanagerError(f"{BINARY} is not installed (apt-get install prometheus-alertmanager)")
    with tempfile.TemporaryDirectory(prefix="modelgate-alertmanager-") as tmp:
        work = Path(tmp)
        config_path = work / "alertmanager.yml"
        config = build_alertmanager_config(receivers, wait=wait)
        config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        log_path = work / "alertmanager.log"
        port = free_port()
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_path}",
                    f"--storage.path={work / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--cluster.listen-address=",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            with httpx.Client(timeout=5.0) as client:
                server = AlertmanagerServer(f"http://127.0.0.1:{port}", f"127.0.0.1:{port}", client)
                if not _wait_ready(server, process, ready_timeout):
                    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
                    raise AlertmanagerError(f"alertmanager did not become ready\n{tail}")
                yield server
        finally:
            stop_process(process, timeout=10)


def _wait_ready(server: AlertmanagerServer, process: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with contextlib.suppress(httpx.HTTPError):
            if server.client.get(f"{server.url}/-/ready").status_code == 200:
                return True
        time.sleep(0.1)
    return False
