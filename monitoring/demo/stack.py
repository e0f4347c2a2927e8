"""The local stack `modelgate demo` and the live scorecard start: `modelgate` child processes on
127.0.0.1 and a fresh config with tenants and their keys.

    cfg, keys = write_config(work, sim_port)
    with running(["vllm-sim", "--port", str(sim_port)], f"{sim}/health", work / "sim.log"):
        ...

The children run this checkout's `gateway.cli` with the current interpreter, so they see the same code.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import yaml

from monitoring.stack.processes import stop_process

__all__ = ["MODEL", "ROOT", "modelgate", "running", "write_config"]

ROOT = Path(__file__).resolve().parents[2]
MODEL = "sim-llama-3-8b"  # the simulator's model name, as `modelgate init` configures it


def modelgate(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one `modelgate` command to completion; RuntimeError on an exit code other than 0 or 1."""
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True, cwd=ROOT
    )
    if check and done.returncode not in (0, 1):
        raise RuntimeError(
            f"modelgate {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-500:]}"
        )
    return done


@contextlib.contextmanager
def running(args: list[str], ready_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A long-running `modelgate` command (serve, vllm-sim), yielded once `ready_url` answers 200 and
    stopped (SIGTERM, then SIGKILL) on exit; RuntimeError if it exits early or is not ready in 120 s."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", *args], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{args[0]} exited early; see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(ready_url, timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{args[0]} not ready after 120 s; see {log}")
            time.sleep(0.2)
        yield proc
    finally:
        stop_process(proc)


def write_config(work: Path, sim_port: int) -> tuple[Path, dict[str, str]]:
    """`modelgate init` in `work` against the simulator, plus tenants acme, globex (a tiny budget) and
    evals; returns the config path and each tenant's API key."""
    cfg = work / "modelgate.yaml"
    modelgate("init", "--config", str(cfg), "--llm-upstream", f"http://127.0.0.1:{sim_port}/v1")
    keys = {}
    for name, daily in (("acme", "5"), ("globex", "0.0002"), ("evals", "50")):
        out = modelgate("tenants", "add", name, "--daily-usd", daily, "--config", str(cfg)).stdout
        keys[name] = out.strip().splitlines()[-1]
    raw = yaml.safe_load(cfg.read_text())
    raw["prediction_log"]["flush_seconds"] = 0.5
    raw["llm"]["log_content"] = True  # the judged-sample job needs content; a demo has nothing private
    cfg.write_text(yaml.safe_dump(raw, sort_keys=False))
    return cfg, keys
