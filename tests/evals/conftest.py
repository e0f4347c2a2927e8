"""Fixtures for the eval tests: a config in a temp folder, and the real simulator (two ways)."""

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from adapters.vllm.sim.config import SimConfig
from adapters.vllm.sim.server import SimServer
from monitoring.stack.processes import free_port
from support.evals_helpers import CORE_ANSWERS, MODEL


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


@pytest.fixture
def sim_process(tmp_path):
    """`modelgate vllm-sim` as a subprocess (its own core, so long runs go faster than in-process)."""
    port = free_port()
    argv = [sys.executable, "-m", "gateway.cli", "vllm-sim", "--port", str(port), "--model", MODEL]
    argv += [
        "--answers",
        str(CORE_ANSWERS),
        "--ttft-ms",
        "0",
        "--itl-ms",
        "0",
        "--seed",
        "7",
        "--log-level",
        "warning",
    ]
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
