"""Start the servers a section measures as subprocesses on 127.0.0.1, and always stop them.

Each server runs in its own session (process group), so Ctrl-C in the terminal reaches the bench, which
then stops its servers in order; stopping signals that group only (the server and anything it forked).
Servers are entered on a `contextlib.ExitStack`, so an exception or an interrupt stops every one started:

    with ExitStack() as stack:
        sim = stack.enter_context(Server.start("sim", cmd, health_url, log_dir))
        sim.pid   # for /proc/<pid>/stat
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = ["REPO", "Server", "ServerError", "child_env", "free_port", "python_cmd"]

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 120.0  # a gateway start imports pandas/sklearn/pyarrow: ~10 s here when the machine is busy
STOP_TIMEOUT_S = 15.0


class ServerError(RuntimeError):
    """A server exited or never answered; the message carries the tail of its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def python_cmd(*args: str) -> list[str]:
    """`python ARGS…` with this interpreter (the venv's), run from the repository root."""
    return [sys.executable, *args]


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for servers: ours minus MODELGATE_*/OTEL_* (the config file decides), offline."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELGATE_", "OTEL_"))}
    env["DO_NOT_TRACK"] = "1"
    env.update(extra or {})
    return env


def _log_tail(path: Path, chars: int = 1500) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return "(no log)"


@dataclass
class Server:
    """A running server subprocess."""

    name: str
    base_url: str
    health_path: str
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    @contextlib.contextmanager
    def start(
        cls,
        name: str,
        cmd: Sequence[str],
        *,
        port: int,
        health_path: str,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        wait: bool = True,
        cwd: Path = REPO,
    ) -> Iterator[Server]:
        """Run `cmd`, wait until GET `health_path` answers 200, yield the Server, stop it on exit.

        With `wait=False` it yields at once, so several servers can start side by side; call
        `wait_ready()` on each before using it. `cwd` is where `python -m …` finds its packages (another
        source tree for bench/ab.py).
        """
        log_path = log_dir / f"{name}.log"
        log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        process = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=dict(env) if env is not None else child_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        server = cls(name, f"http://127.0.0.1:{port}", health_path, process, log_path, log)
        try:
            if wait:
                server.wait_ready()
            yield server
        finally:
            server.stop()

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        url = self.base_url + self.health_path
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(
                    f"{self.name} exited with {self.process.returncode} while starting; "
                    f"log {self.log_path}:\n{_log_tail(self.log_path)}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2.0) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise ServerError(f"{self.name} did not answer {url} within {timeout:.0f} s; log {self.log_path}")

    def check_alive(self) -> None:
        """Raise ServerError with the log's tail if the server has died (e.g. mid-measurement)."""
        if self.process.poll() is not None:
            raise ServerError(
                f"{self.name} exited with {self.process.returncode}; log {self.log_path}:\n"
                f"{_log_tail(self.log_path)}"
            )

    def stop(self) -> None:
        """SIGTERM the server's process group, SIGKILL it if it lingers; idempotent."""
        try:
            if self.process.poll() is None:
                self._signal(signal.SIGTERM)
                try:
                    self.process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    self._signal(signal.SIGKILL)
                    self.process.wait(STOP_TIMEOUT_S)
        finally:
            self._log.close()

    def _signal(self, sig: signal.Signals) -> None:
        # The group id is the server's pid (start_new_session); it holds only what that server started.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
