"""The servers the sections measure, started the way a user starts them (`modelgate …` commands).

- `churn_artifact`: one trained churn artifact per run (20,000 rows, seed 7: `serve`'s own default),
  shared by the reference service and every gateway, so both score the same model.
- `gateway_config`: `modelgate init` + `modelgate tenants add bench --daily-usd …`, then the
  bench's edits (shared artifact, tracing section) — metrics, prediction/LLM logging and the SQLite
  budget ledger stay as `init` writes them: on.
- `start_gateway`, `start_sim`, `start_byte_proxy`, `start_reference`, `start_trace_backend`: context
  managers yielding a running `Server`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.servers import REPO, Server, child_env, free_port, python_cmd

__all__ = [
    "RECEIVERS",
    "SIM_MODEL",
    "GatewayConfig",
    "TraceBackend",
    "churn_artifact",
    "gateway_config",
    "start_byte_proxy",
    "start_gateway",
    "start_reference",
    "start_sim",
    "start_trace_backend",
]

SIM_MODEL = "sim-llama-3-8b"
DAILY_BUDGET_USD = 1_000_000.0  # large enough that no request of the run is refused
PHOENIX_VERSION = "20.26.1"


@dataclass(frozen=True)
class GatewayConfig:
    path: Path
    api_key: str


def churn_artifact(workdir: Path) -> Path:
    """Train the churn artifact once per run into `workdir/artifact`; return its folder."""
    from adapters.churn.train import train_model

    folder = workdir / "artifact"
    if not (folder / "metadata.json").is_file():
        train_model(folder, rows=20_000, seed=7)
    return folder


def _modelgate(*args: str) -> str:
    proc = subprocess.run(
        python_cmd("-m", "gateway.cli", *args),
        cwd=REPO,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"modelgate {args[0]} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def gateway_config(
    folder: Path, *, upstream: str, artifact: Path, tracing_endpoint: str | None = None
) -> GatewayConfig:
    """A gateway config in `folder`, with a `bench` tenant; tracing on when `tracing_endpoint` is set."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "modelgate.yaml"
    _modelgate("init", "--config", str(path), "--llm-upstream", upstream)
    out = _modelgate("tenants", "add", "bench", "--daily-usd", str(DAILY_BUDGET_USD), "--config", str(path))
    api_key = out.strip().splitlines()[-1]  # `tenants add` prints the key as its last line
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["churn"]["artifact_dir"] = str(artifact)
    raw["tracing"] = {"enabled": tracing_endpoint is not None, "sample_ratio": 1.0}
    if tracing_endpoint is not None:
        raw["tracing"]["endpoint"] = tracing_endpoint
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return GatewayConfig(path, api_key)


@contextlib.contextmanager
def start_gateway(
    name: str, config: GatewayConfig, log_dir: Path, *, wait: bool = True, tree: Path = REPO
) -> Iterator[Server]:
    """`modelgate serve` (uvicorn, uvloop + httptools, one worker); ready once /readyz has the model.

    `tree`: the source tree whose `gateway` package runs (bench/ab.py compares two)."""
    port = free_port()
    cmd = python_cmd("-m", "gateway.cli", "serve", "--config", str(config.path))
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with Server.start(
        name, cmd, port=port, health_path="/readyz", log_dir=log_dir, wait=wait, cwd=tree
    ) as server:
        yield server


@contextlib.contextmanager
def start_sim(
    name: str, log_dir: Path, *, ttft_ms: float, itl_ms: float, tokens: int, wait: bool = True
) -> Iterator[Server]:
    """`modelgate vllm-sim` serving SIM_MODEL with the given timings."""
    port = free_port()
    cmd = python_cmd("-m", "gateway.cli", "vllm-sim", "--host", "127.0.0.1", "--port", str(port))
    cmd += ["--model", SIM_MODEL, "--ttft-ms", str(ttft_ms), "--itl-ms", str(itl_ms), "--tokens", str(tokens)]
    cmd += ["--log-level", "warning"]
    with Server.start(name, cmd, port=port, health_path="/health", log_dir=log_dir, wait=wait) as server:
        yield server


@contextlib.contextmanager
def start_byte_proxy(name: str, upstream: Server, log_dir: Path, *, wait: bool = True) -> Iterator[Server]:
    """bench/byte_proxy.py in front of `upstream` (a simulator: ready once its /health answers through it)."""
    port = free_port()
    target = upstream.base_url.removeprefix("http://")
    cmd = python_cmd("-m", "bench.byte_proxy", "--port", str(port), "--upstream", target)
    with Server.start(name, cmd, port=port, health_path="/health", log_dir=log_dir, wait=wait) as server:
        yield server


@contextlib.contextmanager
def start_reference(artifact: Path, log_dir: Path, *, wait: bool = True) -> Iterator[Server]:
    """The lesson's churn service (bench/churn_reference_service.py), appending to a JSONL log."""
    port = free_port()
    cmd = python_cmd("-m", "bench.churn_reference_service", "--artifact", str(artifact))
    cmd += ["--port", str(port), "--log", str(log_dir / "reference-predictions.jsonl")]
    with Server.start(
        "reference", cmd, port=port, health_path="/healthz", log_dir=log_dir, wait=wait
    ) as server:
        yield server


@dataclass(frozen=True)
class TraceBackend:
    server: Server
    kind: str  # "phoenix" or "otlp_sink"
    endpoint: str  # OTLP/HTTP base URL for tracing.endpoint


def find_phoenix() -> Path | None:
    """Arize Phoenix where the integration tests look for it (tests/support/otlp_backend.py), else None."""
    for candidate in (
        os.environ.get("MODELGATE_PHOENIX_BIN"),
        str(REPO / ".tools" / "phoenix" / "bin" / "phoenix"),
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    on_path = shutil.which("phoenix")
    return Path(on_path) if on_path else None


RECEIVERS = ("auto", "phoenix", "sink")


@contextlib.contextmanager
def start_trace_backend(
    log_dir: Path, *, receiver: str = "sink", wait: bool = True
) -> Iterator[TraceBackend]:
    """A real OTLP/HTTP receiver on loopback: Phoenix ("auto": when installed) or bench/otlp_sink.py."""
    if receiver not in RECEIVERS:
        raise ValueError(f"receiver must be one of {RECEIVERS}, not {receiver!r}")
    port = free_port()
    phoenix = find_phoenix() if receiver in ("auto", "phoenix") else None
    if receiver == "phoenix" and phoenix is None:
        raise RuntimeError(
            "Arize Phoenix not found: python -m venv .tools/phoenix && "
            f".tools/phoenix/bin/pip install arize-phoenix=={PHOENIX_VERSION} (or set MODELGATE_PHOENIX_BIN)"
        )
    if phoenix is not None:
        workdir = log_dir / "phoenix"
        workdir.mkdir(exist_ok=True)
        env = {k: v for k, v in child_env().items() if not k.startswith("PHOENIX_")}
        env.update(
            PHOENIX_HOST="127.0.0.1",
            PHOENIX_PORT=str(port),
            PHOENIX_GRPC_PORT=str(free_port()),
            PHOENIX_WORKING_DIR=str(workdir),
            PHOENIX_TELEMETRY_ENABLED="false",
        )
        cmd = [str(phoenix), "serve"]
        with Server.start(
            "phoenix", cmd, port=port, health_path="/healthz", log_dir=log_dir, env=env, wait=wait
        ) as s:
            yield TraceBackend(s, "phoenix", s.base_url)
        return
    cmd = python_cmd("-m", "bench.otlp_sink", "--port", str(port))
    with Server.start("otlp-sink", cmd, port=port, health_path="/health", log_dir=log_dir, wait=wait) as s:
        yield TraceBackend(s, "otlp_sink", s.base_url)
