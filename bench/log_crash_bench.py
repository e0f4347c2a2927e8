"""What SIGKILL loses from the prediction log: rows the gateway acknowledged but had not flushed yet.

    python -m bench.log_crash_bench [--seconds 6] [--rounds 3] [--clients 4]

Each round starts `modelgate serve` (default writer settings: flush every 2 s or 5,000 rows), drives
churn predictions from `--clients` threads for `--seconds`, then SIGKILLs the gateway's process group
while requests are still flowing. Every 200 response is an acknowledged row (its `request_id`); after
the kill the log is read back and the acknowledged ids missing from it are the loss. A last round ends
with SIGTERM instead, where nothing may be lost (the writer drains on shutdown). Figures print at the end
and go to bench/results/log_crash.json: rows lost, and the loss in seconds of traffic (lost / rate),
against the documented bound of one flush interval (docs/contracts.md, "Crash safety").
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.stack import churn_artifact, gateway_config, start_gateway

BODY = {
    "tenure_months": 12,
    "monthly_charges": 70.0,
    "total_charges": 840.0,
    "support_tickets": 1,
    "contract_type": "month-to-month",
    "payment_method": "electronic_check",
    "internet_service": "fiber_optic",
}


def _say(message: str) -> None:
    print(f"[log-crash-bench] {message}", file=sys.stderr, flush=True)


def _drive(base: str, key: str, stop: threading.Event, acked: list[str]) -> None:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=5) as client:
        while not stop.is_set():
            try:
                r = client.post("/v1/churn/predict", json={**BODY, "customer_id": "c1"})
            except httpx.HTTPError:
                return  # the gateway is gone
            if r.status_code == 200:
                acked.append(r.json()["request_id"])


def one_round(workdir: Path, seconds: float, clients: int, sig: signal.Signals) -> dict[str, Any]:
    from gateway.logcontract.window import read_window

    artifact = churn_artifact(workdir)
    cfg = gateway_config(
        workdir / f"gw-{time.monotonic_ns()}", upstream="http://127.0.0.1:9/v1", artifact=artifact
    )
    log_uri = str(cfg.path.parent / "data" / "predictions")
    acked: list[str] = []
    stop = threading.Event()
    with start_gateway("gateway", cfg, workdir) as gw:
        threads = [
            threading.Thread(target=_drive, args=(gw.base_url, cfg.api_key, stop, acked))
            for _ in range(clients)
        ]
        started = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(seconds)
        os.killpg(gw.process.pid, sig)  # mid-traffic
        killed_at = time.monotonic()
        gw.process.wait(30)
        stop.set()
        for t in threads:
            t.join(10)
    rate = len(acked) / (killed_at - started)
    end = datetime.now(UTC) + timedelta(minutes=1)
    logged = set()
    if Path(log_uri).exists():
        win = read_window(log_uri, days=1, end=end, columns=["request_id"])
        logged = set(win.table.column("request_id").to_pylist())
    lost = len(set(acked) - logged)
    return {
        "signal": sig.name,
        "acked": len(acked),
        "logged": len(logged),
        "lost": lost,
        "rate_per_s": round(rate, 1),
        "lost_seconds_of_traffic": round(lost / rate, 2) if rate else None,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.log_crash_bench", description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--clients", type=int, default=4)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="modelgate-crash-bench-") as tmp:
        rounds = []
        for i in range(args.rounds):
            rounds.append(one_round(Path(tmp), args.seconds, args.clients, signal.SIGKILL))
            _say(f"SIGKILL round {i + 1}: {rounds[-1]}")
        rounds.append(one_round(Path(tmp), args.seconds, args.clients, signal.SIGTERM))
        _say(f"SIGTERM round: {rounds[-1]}")
    results = {"flush_seconds": 2.0, "flush_rows": 5000, "rounds": rounds}
    out = Path(__file__).resolve().parent / "results" / "log_crash.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
