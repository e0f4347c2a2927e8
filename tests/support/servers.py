"""Run real servers on 127.0.0.1 for tests: uvicorn in a thread, or a `modelgate` subprocess."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from monitoring.stack.processes import free_port as free_port  # re-exported: the tests take it from here
from monitoring.stack.processes import stop_process

REPO = Path(__file__).resolve().parents[2]


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            r = httpx.get(url, timeout=1.0)
            if r.status_code < 500:
                return
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout} s (last error: {last})")


@contextlib.contextmanager
def uvicorn_thread(app: Any, *, ready_path: str = "/healthz", **config: Any) -> Iterator[str]:
    """Serve an ASGI app under uvicorn in a thread; yields its base URL; stops it gracefully.

    `config` adds uvicorn.Config options (the gateway's own: gateway.http_server.uvicorn_options).
    """
    port = free_port()
    options: dict[str, Any] = {"log_level": "warning", "access_log": False, "lifespan": "on", **config}
    config_ = uvicorn.Config(app, host="127.0.0.1", port=port, **options)
    server = uvicorn.Server(config_)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        yield base
    finally:
        server.should_exit = True
        thread.join(30)


@contextlib.contextmanager
def modelgate_process(
    args: Sequence[str], *, ready_url: str, env: dict[str, str] | None = None, log_path: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `modelgate ARGS…` as a subprocess until `ready_url` answers; SIGTERM it at the end."""
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_http(ready_url, timeout=60, proc=proc)
        yield proc
    finally:
        stop_process(proc)
        if log_path:
            out.close()  # type: ignore[union-attr]
