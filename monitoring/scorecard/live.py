"""The error spike run live, to show the generated series detect like the real gateway does.

Live: the vLLM simulator, the gateway (`modelgate serve`) and a real Prometheus scraping both every 15 s
with the shipped rules and `for:`; steady LLM traffic through the official route; after a calm minute
the simulator's fault API fails `ratio` of the upstream calls with a 500 (the gateway answers 502).
Detection = the time from the fault to `HighErrorRate` firing in Prometheus.

Generated: the same shape (the live run's measured request rate, the calm minute, then the ratio) as
one-minute series through promtool, the scorecard's path, evaluated every minute. The two times are
reported side by side; they differ by the generated series' one-minute resolution (the fault lands on
a minute boundary there, anywhere live) and the live scrape and evaluation intervals.
tests/integration/test_live_error_spike.py runs both and holds them within that tolerance.

    result = live_error_spike(ratio=0.2)    # {"live_detect_seconds": ..., "generated_detect_seconds": ...}
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from monitoring.demo.stack import MODEL, running, write_config
from monitoring.demo.traffic import send_llm
from monitoring.scorecard.promtool import Query, evaluate
from monitoring.scorecard.series import SeriesStore
from monitoring.stack.processes import free_port
from monitoring.stack.prometheus import run_prometheus

__all__ = ["generated_error_spike", "live_error_spike"]

CALM_SECONDS = 60.0
LIMIT_SECONDS = 480.0


def generated_error_spike(
    rate_per_minute: float, ratio: float, *, for_override: str | None = None, minutes: int = 12
) -> float | None:
    """Detection time of the same spike through promtool: one sample a minute, evaluated every minute
    (a 12-minute run has no week-long baselines to keep under promtool's sample limit)."""
    store = SeriesStore(minutes)
    route = {"backend": "llm", "route": "/v1/chat/completions", "method": "POST"}
    errors = np.where(np.arange(minutes) >= 1, ratio * rate_per_minute, 0.0)
    store.counter("modelgate_requests_total", {**route, "status": "200"}, rate_per_minute - errors)
    store.counter("modelgate_requests_total", {**route, "status": "502"}, errors)
    store.gauge("up", {"job": "modelgate", "instance": "127.0.0.1:8000"}, np.ones(minutes))
    query = Query("spike", "first", 1, minutes, step="1m")
    answers = evaluate(store, [query], for_override=for_override, step="1m")
    hits = [v for labels, v in answers["spike"] if labels.get("alertname") == "HighErrorRate"]
    return min(hits) - 60.0 if hits else None


def live_error_spike(
    ratio: float = 0.2,
    *,
    interval_seconds: int = 15,
    for_override: str | None = None,
    calm_seconds: float = CALM_SECONDS,
    limit_seconds: float = LIMIT_SECONDS,
) -> dict[str, Any]:
    """Run the spike live, then generated; both detection times and the live request rate.

    `interval_seconds` is Prometheus's scrape and evaluation interval; `for_override` replaces every
    alert's `for:` in both runs (None: as shipped)."""
    detected: float | None = None
    with tempfile.TemporaryDirectory(prefix="modelgate-live-spike-") as tmp:
        work = Path(tmp)
        port, sim_port = free_port(), free_port()
        cfg, keys = write_config(work, sim_port)
        gateway, sim = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sim_port}"
        sim_args = ["vllm-sim", "--port", str(sim_port), "--ttft-ms", "5", "--itl-ms", "1", "--seed", "3"]
        serve = ["serve", "--config", str(cfg), "--port", str(port)]
        stop = threading.Event()
        sent = [0]

        def traffic() -> None:  # ~4 LLM calls a second until told to stop
            while not stop.is_set():
                with contextlib.suppress(httpx.HTTPError):
                    sent[0] += sum(send_llm(gateway, [keys["acme"]], 4, MODEL, concurrency=4).values())
                stop.wait(0.5)

        with (
            running(sim_args, f"{sim}/health", work / "vllm-sim.log"),
            running(serve, f"{gateway}/readyz", work / "gateway.log"),
            run_prometheus(
                {"modelgate": [f"127.0.0.1:{port}"], "vllm": [f"127.0.0.1:{sim_port}"]},
                interval=f"{interval_seconds}s",
                for_override=for_override,
            ) as prom,
        ):
            worker = threading.Thread(target=traffic, daemon=True)
            started = time.monotonic()
            worker.start()
            try:
                time.sleep(calm_seconds)
                httpx.post(f"{sim}/admin/faults", json={"fail_rate": ratio, "status": 500}, timeout=5)
                fault_at = time.monotonic()
                while time.monotonic() - fault_at < limit_seconds:
                    if prom.firing("HighErrorRate"):
                        detected = time.monotonic() - fault_at
                        break
                    time.sleep(1.0)
                rate = 60.0 * sent[0] / (time.monotonic() - started)
            finally:
                stop.set()
                worker.join(timeout=30)
    return {
        "fault": f"error_spike_{round(ratio * 100)}pct (LLM lane, live)",
        "live_detect_seconds": None if detected is None else round(detected, 1),
        "generated_detect_seconds": generated_error_spike(rate, ratio, for_override=for_override),
        "requests_per_minute": round(rate, 1),
        "scrape_and_eval_interval_seconds": interval_seconds,
        "for_override": for_override,
    }
