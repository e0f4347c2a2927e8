"""SIGTERM while streams are in flight, streams that outlive the grace period included: every reservation is
settled before the ledger closes and every LLM log row is written before the log writer closes.

A real `modelgate serve` process, the simulator streaming slowly, and the SQLite ledger and Parquet log
read back after the process has exited.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pyarrow.dataset as ds
import pytest
import yaml
from conftest_helpers import ACME_KEY
from servers import free_port, modelgate_process, uvicorn_thread

from adapters.vllm.sim.app import create_sim_app
from adapters.vllm.sim.config import SimConfig
from gateway.auth import hash_key

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "sim-llama-3-8b"
STREAMS = 4


def test_sigterm_settles_and_logs_every_stream_even_past_the_grace_period(
    tmp_path: Path, churn_artifact: Path
) -> None:
    # 400 tokens x 25 ms = 10 s per stream; the grace period is half a second.
    sim = SimConfig(ttft_ms=1, itl_ms=25, tokens=400, seed=8)
    with uvicorn_thread(create_sim_app(sim), ready_path="/health") as sim_url:
        cfg = tmp_path / "modelgate.yaml"
        cfg.write_text(
            yaml.safe_dump(
                {
                    "data_dir": "data",
                    "server": {"graceful_shutdown_s": 0.5},
                    "churn": {"artifact_dir": str(churn_artifact)},
                    "prediction_log": {"flush_seconds": 0.2},
                    "llm": {
                        "upstream_url": f"{sim_url}/v1",
                        "models": [MODEL],
                        "prices": {MODEL: {"input_per_mtok": 1000.0, "output_per_mtok": 2000.0}},
                    },
                    "tenants": [{"name": "acme", "key_sha256": hash_key(ACME_KEY), "daily_usd": 100.0}],
                }
            )
        )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        received = [0] * STREAMS
        started = threading.Barrier(STREAMS + 1, timeout=30)

        def stream(i: int) -> None:
            body = {
                "model": MODEL,
                "messages": [{"role": "user", "content": f"tell me a long story {i}"}],
                "max_tokens": 400,
                "stream": True,
            }
            headers = {"Authorization": f"Bearer {ACME_KEY}"}
            try:
                with httpx.stream("POST", f"{base}/v1/chat/completions", json=body, headers=headers) as r:
                    for line in r.iter_lines():
                        if line.startswith("data:"):
                            received[i] += 1
                            if received[i] == 3:
                                started.wait()
            except httpx.HTTPError:
                pass  # the server went away mid-stream, as it should

        log_path = tmp_path / "serve.log"
        with modelgate_process(
            ["serve", "--config", str(cfg), "--port", str(port)],
            ready_url=f"{base}/readyz",
            log_path=log_path,
        ) as proc:
            threads = [threading.Thread(target=stream, args=(i,)) for i in range(STREAMS)]
            for t in threads:
                t.start()
            started.wait()  # every stream is running
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            took = time.monotonic() - t0
            for t in threads:
                t.join(10)
        assert took < 10, "shutdown waited for the streams instead of cutting them at the grace period"
        assert all(0 < n < 400 for n in received), received

    data = tmp_path / "data"
    with sqlite3.connect(data / "ledger.sqlite") as db:
        held = db.execute("SELECT COUNT(*) FROM reservations").fetchone()[0]
        committed = db.execute(
            "SELECT committed FROM spend WHERE tenant = 'acme' AND length(period) = 10"
        ).fetchone()
    assert held == 0, "a reservation outlived the process: it was neither settled nor released"
    assert committed is not None and committed[0] > 0
    rows = ds.dataset(data / "llm-log", format="parquet", partitioning="hive").to_table().to_pylist()
    assert len(rows) == STREAMS
    assert {r["status"] for r in rows} == {499}
    assert all(r["output_tokens"] > 0 and r["usage_estimated"] for r in rows)
    # what the log says was billed is what the ledger committed (nano-dollars there)
    assert round(sum(r["cost_usd"] for r in rows) * 1e9) == pytest.approx(committed[0], abs=STREAMS)
