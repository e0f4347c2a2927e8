"""Traffic through the running gateway → the Parquet log → `modelgate drift data` → the gateway's /metrics."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyarrow.dataset as ds
import pytest
import yaml

from adapters.churn.generator import ShiftSpec, generate_customers
from gateway.auth import hash_key
from support.conftest_helpers import ACME_KEY, GLOBEX_KEY, metric_samples
from support.servers import REPO, free_port, modelgate_process

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _send(base: str, key: str, rows: list[dict], batch: int = 500) -> None:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
        for i in range(0, len(rows), batch):
            r = c.post("/v1/churn/predict/batch", json={"instances": rows[i : i + batch]})
            assert r.status_code == 200, r.text


def _records(df) -> list[dict]:
    return [
        {k: (int(v) if k in ("tenure_months", "support_tickets") else v) for k, v in row.items()}
        for row in df.to_dict(orient="records")
    ]


def test_drift_found_in_gateway_traffic_shows_on_metrics(tmp_path: Path, churn_artifact: Path) -> None:
    cfg = tmp_path / "modelgate.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "data_dir": "data",
                "churn": {"artifact_dir": str(churn_artifact), "batch_limit": 1000},
                "prediction_log": {"flush_rows": 1000, "flush_seconds": 0.5},
                "tenants": [
                    {"name": "acme", "key_sha256": hash_key(ACME_KEY)},
                    {"name": "globex", "key_sha256": hash_key(GLOBEX_KEY)},
                ],
            }
        )
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with modelgate_process(
        ["serve", "--config", str(cfg), "--port", str(port)],
        ready_url=f"{base}/readyz",
        log_path=tmp_path / "gw.log",
    ):
        calm = generate_customers(1500, seed=21)
        shifted = generate_customers(
            1500, seed=22, shift=ShiftSpec(price_factor=1.25, tenure_factor=0.6, month_to_month_share=0.4)
        )
        _send(base, ACME_KEY, _records(calm))
        _send(base, GLOBEX_KEY, _records(shifted))
        log_dir = tmp_path / "data" / "predictions"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if (
                log_dir.exists()
                and ds.dataset(log_dir, format="parquet", partitioning="hive").count_rows() >= 3000
            ):
                break
            time.sleep(0.2)

        done = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "drift", "data", "--config", str(cfg), "--by", "tenant"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 1, done.stderr  # half the traffic moved: the 0.3 gate trips
        summary = json.loads(done.stdout)
        assert summary["n_current"] == 3000 and summary["verdict"] == "drift"
        assert summary["columns"]["monthly_charges"]["drifted"] is True
        assert summary["segments"]["by"] == "tenant"
        segments = summary["segments"]["segments"]
        assert segments["globex"]["share_drifted"] > segments["acme"]["share_drifted"]

        samples = metric_samples(httpx.get(f"{base}/metrics").text)
        share = [
            v
            for (name, labels), v in samples.items()
            if name == "modelgate_drift_share" and ("against", "training") in labels
        ]
        assert share and share[0] == pytest.approx(summary["share_drifted"])
        detected = [v for (name, _), v in samples.items() if name == "modelgate_drift_detected"]
        assert detected == [1.0]
        fresh = samples[("modelgate_job_last_success_timestamp_seconds", (("job", "drift_data"),))]
        assert time.time() - fresh < 600
