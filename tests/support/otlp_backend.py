"""A real OTLP trace backend on 127.0.0.1 for integration tests: Arize Phoenix (`phoenix serve`).

Phoenix receives OTLP/HTTP at `<base>/v1/traces`, stores spans in SQLite under a temp working dir, and
serves them back through its REST API (`GET /v1/projects/default/spans?trace_id=…`). It runs as a
subprocess from its own virtualenv: arize-phoenix pulls in ~85 packages (and pins some below ours), so it
is kept out of the project's environment. Where it is found, in order:

1. `$MODELGATE_PHOENIX_BIN` (path to the `phoenix` executable);
2. `<repo>/.tools/phoenix/bin/phoenix` (what `make tools` / `.ci/run` create:
   `python -m venv .tools/phoenix && .tools/phoenix/bin/pip install arize-phoenix==20.26.1`);
3. `phoenix` on PATH.

What Phoenix keeps: span name, ids, parent id, status, attributes (it adds a few of its own, e.g.
`openinference.span.kind`, `llm.model_name`). What it drops: the resource (so `service.name` cannot be
read back; it only routes spans to a project) and the span kind.

    with start_otlp_backend(tmp_path) as backend:
        config = TracingConfig(enabled=True, endpoint=backend.otlp_http_endpoint)
        ...
        spans = backend.find_spans(trace_id, min_count=2)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from support.servers import REPO, free_port

__all__ = ["Backend", "BackendUnavailable", "find_phoenix", "start_otlp_backend"]

PHOENIX_VERSION = "20.26.1"
START_TIMEOUT_S = 180.0  # a cold start imports a lot: ~35 s on this 2-core machine


class BackendUnavailable(RuntimeError):
    """Phoenix is not installed where the fixture looks for it."""


@dataclass
class Backend:
    """A running Phoenix: where to send OTLP, and how to read spans back."""

    base_url: str
    otlp_http_endpoint: str  # base URL for TracingConfig.endpoint / OTEL_EXPORTER_OTLP_ENDPOINT
    process: subprocess.Popen[bytes]
    log_path: Path
    project: str = "default"

    @property
    def traces_url(self) -> str:
        return f"{self.otlp_http_endpoint}/v1/traces"

    def find_spans(self, trace_id: str, *, min_count: int = 1, timeout: float = 15.0) -> list[dict[str, Any]]:
        """The spans of `trace_id` once at least `min_count` have been stored (ingestion is asynchronous).

        Each span: `name`, `trace_id`, `span_id`, `parent_span_id` (None for a root), `status_code`
        (`OK`/`ERROR`/`UNSET`), `attributes` (flat dict), `project`. Returns what is there at the
        deadline, which may be fewer than `min_count`: the test's assertion then says what is missing.
        """
        deadline = time.monotonic() + timeout
        spans: list[dict[str, Any]] = []
        while True:
            response = httpx.get(
                f"{self.base_url}/v1/projects/{self.project}/spans",
                params={"trace_id": trace_id, "limit": 1000},
                timeout=5.0,
            )
            if response.status_code == 200:
                spans = [self._span(raw) for raw in response.json()["data"]]
            elif response.status_code != 404:  # 404: the project does not exist until a first span arrives
                response.raise_for_status()
            if len(spans) >= min_count or time.monotonic() > deadline:
                return spans
            time.sleep(0.1)

    def _span(self, raw: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": raw["name"],
            "trace_id": raw["context"]["trace_id"],
            "span_id": raw["context"]["span_id"],
            "parent_span_id": raw.get("parent_id"),
            "status_code": raw.get("status_code"),
            "attributes": raw.get("attributes") or {},
            "project": self.project,
        }


def find_phoenix() -> Path:
    """The `phoenix` executable, or BackendUnavailable saying how to install it."""
    candidates = [
        os.environ.get("MODELGATE_PHOENIX_BIN"),
        str(REPO / ".tools" / "phoenix" / "bin" / "phoenix"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    on_path = shutil.which("phoenix")
    if on_path:
        return Path(on_path)
    raise BackendUnavailable(
        "Arize Phoenix not found: python -m venv .tools/phoenix && "
        f".tools/phoenix/bin/pip install arize-phoenix=={PHOENIX_VERSION} (or set MODELGATE_PHOENIX_BIN)"
    )


@contextlib.contextmanager
def start_otlp_backend(tmp_path: Path) -> Iterator[Backend]:
    """Run `phoenix serve` on free loopback ports with its data under `tmp_path`; stop it on exit."""
    executable = find_phoenix()
    port, grpc_port = free_port(), free_port()
    workdir = tmp_path / "phoenix"
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = tmp_path / "phoenix.log"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OTEL_", "PHOENIX_"))  # our test settings must not configure Phoenix
    }
    env.update(
        PHOENIX_HOST="127.0.0.1",
        PHOENIX_PORT=str(port),
        PHOENIX_GRPC_PORT=str(grpc_port),
        PHOENIX_WORKING_DIR=str(workdir),
        PHOENIX_TELEMETRY_ENABLED="false",
        DO_NOT_TRACK="1",
    )
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(executable), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait_ready(f"{base}/healthz", process, log_path)
            yield Backend(base_url=base, otlp_http_endpoint=base, process=process, log_path=log_path)
        finally:
            _stop(process)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"phoenix exited with {process.returncode} while starting:\n{tail}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        time.sleep(0.25)
    _stop(process)
    raise TimeoutError(f"phoenix did not answer {url} within {START_TIMEOUT_S:.0f} s (log: {log_path})")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    # Its own session: SIGTERM reaches uvicorn and any worker it started, and only those.
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
