"""A real `redis-server` for the budget tests, and a fixture that opens either spend ledger.

`redis_server` is self-contained (no imports from the project) so it can move to tests/conftest.py as is
when other packages need Redis: one server per test session on a free 127.0.0.1 port, no persistence,
killed at teardown. Tests isolate themselves with a unique key prefix rather than FLUSHDB.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.budget.factory import create_ledger
from gateway.budget.ledger import SpendLedger


@dataclass(frozen=True)
class RedisServer:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _pings(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    exe = shutil.which("redis-server")
    if exe is None:
        message = "redis-server is not installed (`make system-deps` installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    workdir = tmp_path_factory.mktemp("redis")
    host, port = "127.0.0.1", _free_port()
    # Without --save/--appendonly the server never writes to disk; --dir keeps it out of the repo anyway.
    cmd = [
        exe,
        "--bind",
        host,
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
    ]
    log = (workdir / "redis.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while not _pings(host, port):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                output = (workdir / "redis.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"redis-server on {host}:{port} did not answer PING:\n{output}")
            time.sleep(0.02)
        yield RedisServer(host, port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


LedgerFactory = Callable[..., SpendLedger]


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.integration)])
def open_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> LedgerFactory:
    """Opens a ledger (through `create_ledger`) on this test's store: every ledger it opens shares the same
    SQLite file or Redis key prefix. Call it inside the running event loop: a Redis client binds to the
    loop that first uses it.
    """
    backend = request.param
    path = tmp_path / "budget.sqlite3"
    url = request.getfixturevalue("redis_server").url if backend == "redis" else None
    prefix = f"test-{uuid.uuid4().hex[:12]}:"

    def open_(reservation_ttl_s: float = 600) -> SpendLedger:
        return create_ledger(
            backend,
            sqlite_path=path,
            redis_url=url,
            reservation_ttl_s=reservation_ttl_s,
            redis_key_prefix=prefix,
        )

    return open_
