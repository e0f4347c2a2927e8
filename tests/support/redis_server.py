"""A real `redis-server` on a free 127.0.0.1 port: one per test session, no persistence, killed at
teardown. Skips when the binary is missing, except under CI (`make test` installs it), where it fails."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from monitoring.stack.processes import free_port


@dataclass(frozen=True)
class RedisServer:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"


def _pings(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    exe = shutil.which("redis-server")
    if exe is None:
        message = "redis-server is not installed (`make system-deps` installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    workdir = tmp_path_factory.mktemp("redis")
    host, port = "127.0.0.1", free_port()
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
