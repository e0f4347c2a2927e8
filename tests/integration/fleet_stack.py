"""A fleet on loopback: vLLM simulator processes (killable, restartable on the same port) behind one
`modelgate serve` process configured with `llm.upstreams`.

    with fleet(tmp_path, churn_artifact, [("llama-a", LLAMA), ("llama-b", LLAMA), ("qwen-a", QWEN)]) as f:
        f.sims["llama-b"].kill()                 # SIGKILL: connections reset, the port refuses
        f.sims["llama-b"].start()                # same port, a fresh process
        f.gateway_metrics()                      # {(name, labels): value} from the gateway's /metrics
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyarrow.dataset as ds
import yaml

from gateway.auth import hash_key
from monitoring.stack.processes import stop_process
from support.conftest_helpers import ACME_KEY, metric_samples
from support.servers import REPO, free_port, modelgate_process, wait_http

LLAMA = "llama-3-8b"
QWEN = "qwen-2.5-7b"
PRICES = {
    LLAMA: {"input_per_mtok": 1000.0, "output_per_mtok": 2000.0},
    QWEN: {"input_per_mtok": 3000.0, "output_per_mtok": 6000.0},  # dearer: fallback pricing shows
}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class SimProcess:
    """One `modelgate vllm-sim` process; `kill()` is SIGKILL, like a node or a container dying."""

    name: str
    model: str
    log_dir: Path
    args: Sequence[str] = ("--ttft-ms", "20", "--itl-ms", "8", "--tokens", "12")
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        log = open(self.log_dir / f"{self.name}-{self.starts}.log", "wb")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "vllm-sim", "--port", str(self.port), "--model", self.model,
             "--seed", str(self.starts), "--log-level", "warning", *self.args],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        wait_http(f"{self.url}/health", timeout=60, proc=self.proc)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=10)

    def set_faults(self, **faults: Any) -> None:
        httpx.post(f"{self.url}/admin/faults", json=faults, timeout=5).raise_for_status()

    def served(self) -> float:
        """Requests this simulator process finished (vLLM's own counter), whatever their finish reason."""
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        return sum(v for (name, _), v in metric_samples(text).items() if name == "vllm:request_success_total")


@dataclass
class Fleet:
    gateway_url: str
    sims: dict[str, SimProcess]
    log_uri: Path

    def gateway_metrics(self) -> Samples:
        return metric_samples(httpx.get(f"{self.gateway_url}/metrics", timeout=5).text)

    def upstream_requests(self, upstream: str, outcome: str | None = None) -> float:
        return sum(
            v
            for (name, labels), v in self.gateway_metrics().items()
            if name == "modelgate_upstream_requests_total"
            and dict(labels)["upstream"] == upstream
            and (outcome is None or dict(labels)["outcome"] == outcome)
        )

    def healthy(self, upstream: str) -> bool:
        return any(
            v == 1.0
            for (name, labels), v in self.gateway_metrics().items()
            if name == "modelgate_upstream_healthy" and dict(labels)["upstream"] == upstream
        )

    def wait_healthy(self, upstream: str, want: bool, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.healthy(upstream) != want:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{upstream} did not become {'healthy' if want else 'ejected'}")
            time.sleep(0.1)

    def logged_cost(self) -> float:
        """The cost of every LLM log row written so far."""
        table = ds.dataset(str(self.log_uri), format="parquet", partitioning="hive").to_table(["cost_usd"])
        return float(sum(table.column("cost_usd").to_pylist()))

    def budget(self) -> dict[str, Any]:
        r = httpx.get(
            f"{self.gateway_url}/v1/budget", headers={"Authorization": f"Bearer {ACME_KEY}"}, timeout=5
        )
        r.raise_for_status()
        day: dict[str, Any] = r.json()["day"]
        return day

    def log_rows(self, request_ids: set[str], timeout: float = 20.0) -> dict[str, dict[str, Any]]:
        """The LLM log rows of these requests (by the x-request-id the client sent), once all are written
        (the writer flushes every 0.2 s)."""
        deadline = time.monotonic() + timeout
        while True:
            rows: dict[str, dict[str, Any]] = {}
            if self.log_uri.exists() and any(self.log_uri.rglob("*.parquet")):
                table = ds.dataset(str(self.log_uri), format="parquet", partitioning="hive").to_table()
                for row in table.to_pylist():
                    # The client's x-request-id is kept beside the gateway's own id.
                    if row["client_request_id"] in request_ids:
                        rows[row["client_request_id"]] = row
            if len(rows) == len(request_ids) or time.monotonic() > deadline:
                return rows
            time.sleep(0.2)


@contextlib.contextmanager
def fleet(
    tmp_path: Path,
    churn_artifact: Path,
    replicas: Sequence[tuple[str, str]],
    *,
    fallbacks: dict[str, list[str]] | None = None,
    routing: dict[str, Any] | None = None,
    sim_args: Sequence[str] | None = None,
    daily_usd: float | None = None,
) -> Iterator[Fleet]:
    sims = {
        name: SimProcess(name, model, tmp_path, args=sim_args)
        if sim_args is not None
        else SimProcess(name, model, tmp_path)
        for name, model in replicas
    }
    try:
        for sim in sims.values():
            sim.start()
        port = free_port()
        cfg = tmp_path / "modelgate.yaml"
        log_uri = tmp_path / "data" / "llm-log"
        cfg.write_text(
            yaml.safe_dump(
                {
                    "data_dir": "data",
                    "churn": {"artifact_dir": str(churn_artifact)},
                    "prediction_log": {"flush_rows": 100, "flush_seconds": 0.2},
                    "llm": {
                        "upstreams": [
                            {"name": s.name, "url": f"{s.url}/v1", "models": [s.model]} for s in sims.values()
                        ],
                        "fallbacks": fallbacks or {},
                        "prices": PRICES,
                        # Fast health and scrape loops, so a test sees ejection and re-admission in seconds.
                        "routing": {
                            "health_interval_s": 0.5,
                            "eject_base_s": 0.5,
                            "eject_max_s": 2.0,
                            "load_scrape_interval_s": 0.5,
                            **(routing or {}),
                        },
                    },
                    "tenants": [{"name": "acme", "key_sha256": hash_key(ACME_KEY), "daily_usd": daily_usd}],
                }
            )
        )
        base = f"http://127.0.0.1:{port}"
        with modelgate_process(
            ["serve", "--config", str(cfg), "--port", str(port), "--log-level", "warning"],
            ready_url=f"{base}/readyz",
            log_path=tmp_path / "gateway.log",
        ):
            yield Fleet(base, sims, log_uri)
    finally:
        for sim in sims.values():
            sim.stop()
