"""`modelgate serve` as a real process: trains when no model exists, serves, and loses no logged
prediction when SIGTERM arrives during load."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pyarrow.dataset as ds
import pytest

from gateway.auth import hash_key
from support.conftest_helpers import ACME_KEY
from support.servers import REPO, free_port, wait_http

pytestmark = pytest.mark.integration

FEATURES = {
    "tenure_months": 10,
    "monthly_charges": 70.0,
    "total_charges": 700.0,
    "support_tickets": 1,
    "contract_type": "one_year",
    "payment_method": "bank_transfer",
    "internet_service": "dsl",
}


def _config(tmp_path: Path, artifact: Path | None) -> Path:
    cfg = tmp_path / "modelgate.yaml"
    churn = f"churn: {{artifact_dir: {artifact}}}\n" if artifact else "churn: {train_rows: 2000}\n"
    cfg.write_text(
        "data_dir: data\n"
        + churn
        + "prediction_log: {flush_rows: 200, flush_seconds: 30}\n"  # long interval: only shutdown flushes
        + f"tenants:\n  - {{name: acme, key_sha256: {hash_key(ACME_KEY)}}}\n"
    )
    return cfg


def test_serve_trains_a_missing_model_then_serves(tmp_path: Path) -> None:
    cfg = _config(tmp_path, None)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(cfg), "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", timeout=120, proc=proc)
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/churn/predict",
            json=FEATURES,
            headers={"Authorization": f"Bearer {ACME_KEY}"},
        )
        assert r.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert "training one" in out and "curl" in out
    assert (tmp_path / "data" / "models" / "churn" / "metadata.json").exists()


def test_bad_config_stops_start_up_with_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "modelgate.yaml"
    cfg.write_text("server: {port: -3}\n")
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(cfg)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "server.port" in done.stderr


def test_sigterm_during_load_loses_no_logged_prediction(tmp_path: Path, churn_artifact: Path) -> None:
    cfg = _config(tmp_path, churn_artifact)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(cfg), "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ok_ids: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client_loop() -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ACME_KEY}"}, timeout=5) as c:
            while not stop.is_set():
                try:
                    r = c.post("/v1/churn/predict", json=FEATURES)
                except httpx.HTTPError:
                    return  # the server stopped accepting: this client is done
                if r.status_code == 200:
                    with lock:
                        ok_ids.append(r.json()["request_id"])

    try:
        wait_http(f"{base}/readyz", timeout=60, proc=proc)
        threads = [threading.Thread(target=client_loop) for _ in range(8)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises SIGTERM: -15 is the clean exit here.
        assert proc.wait(timeout=40) in (0, -signal.SIGTERM)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
    for t in threads:
        t.join(10)
    assert len(ok_ids) > 50
    table = ds.dataset(tmp_path / "data" / "predictions", format="parquet", partitioning="hive").to_table(
        columns=["request_id"]
    )
    logged = set(table.column("request_id").to_pylist())
    missing = set(ok_ids) - logged
    assert not missing, f"{len(missing)} of {len(ok_ids)} answered predictions are not in the log"


def test_production_mode_refuses_a_missing_model_with_one_line(tmp_path: Path) -> None:
    cfg = _config(tmp_path, tmp_path / "no-model-here")
    # /metrics behind a token, as production requires (docs/api.md, "Operations").
    cfg.write_text(f"mode: production\nserver: {{metrics_token_sha256: {'a' * 64}}}\n" + cfg.read_text())
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(cfg)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    err = done.stderr.strip()
    assert err.count("\n") == 0, err
    assert "modelgate churn train --out" in err and "MODELGATE_CHURN__ARTIFACT_DIR" in err
    assert not (tmp_path / "no-model-here").exists()  # nothing was trained


def test_a_malformed_otel_variable_stops_start_up_with_one_line(tmp_path: Path, churn_artifact: Path) -> None:
    cfg = _config(tmp_path, churn_artifact)
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(cfg)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_TIMEOUT": "x"},
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "OTEL_EXPORTER_OTLP_TIMEOUT" in done.stderr
