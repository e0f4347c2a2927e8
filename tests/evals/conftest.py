"""Fixtures for the eval tests: a clean environment, a config in a temp folder, the real simulator."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from adapters.vllm.sim.config import SimConfig
from adapters.vllm.sim.server import SimServer
from evals.suite import default_suites_dir

CORE_ANSWERS = default_suites_dir() / "core.answers.jsonl"
MODEL = "sim-eval-model"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in (
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "MODELGATE_CONFIG",
        "LANGFUSE_HOST",
        "LANGFUSE_PUBLIC_KEY",
        "LANGFUSE_SECRET_KEY",
        "LANGFUSE_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def config_file(tmp_path) -> Path:
    """A modelgate.yaml whose data lives in the test's temp folder; fast retries."""
    path = tmp_path / "modelgate.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "data_dir": "data",
                "evals": {"retry_backoff_s": 0.01, "concurrency": 8},
                "llm": {"prices": {MODEL: {"input_per_mtok": 1.0, "output_per_mtok": 2.0}}},
            }
        )
    )
    return path


@pytest.fixture
def sim():
    """The simulator in-process on a free port, answering the core suite; faults via `set_faults`."""
    config = SimConfig(model=MODEL, ttft_ms=0, itl_ms=0, jitter=0, answers_file=CORE_ANSWERS)
    with SimServer(config) as server:
        yield server


def set_faults(base_url: str, **faults) -> None:
    response = httpx.post(f"{base_url}/admin/faults", json=faults, timeout=5)
    response.raise_for_status()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sim_process(tmp_path):
    """`modelgate vllm-sim` as a subprocess (its own core, so long runs go faster than in-process)."""
    port = free_port()
    argv = [sys.executable, "-m", "gateway.cli", "vllm-sim", "--port", str(port), "--model", MODEL]
    argv += ["--answers", str(CORE_ANSWERS), "--ttft-ms", "0", "--itl-ms", "0", "--seed", "7", "--log-level", "warning"]
    proc = subprocess.Popen(argv)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("vllm-sim did not start")
            time.sleep(0.05)
        yield base_url
    finally:
        proc.terminate()
        proc.wait(10)
