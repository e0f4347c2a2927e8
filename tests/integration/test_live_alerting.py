"""A real Prometheus with prometheus.yml's jobs and alerts.yml scrapes the running gateway and simulator;
an injected upstream fault makes the HighErrorRate page fire, seen through Prometheus's API."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import pytest

from adapters.vllm.sim.config import SimConfig
from gateway.settings import Settings
from support.conftest_helpers import ACME_KEY
from support.llm_stack import MODEL, llm_stack
from support.prometheus_server import run_prometheus

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_injected_upstream_fault_pages_through_prometheus(make_settings: Callable[..., Settings]) -> None:
    with llm_stack(make_settings, sim=SimConfig(ttft_ms=1, itl_ms=0, tokens=4, seed=5)) as stack:
        gw = stack.gateway_url.removeprefix("http://")
        sim = stack.sim_url.removeprefix("http://")
        stop = threading.Event()

        def traffic() -> None:
            with httpx.Client(base_url=stack.gateway_url, timeout=5) as c:
                while not stop.is_set():
                    c.post(
                        "/v1/chat/completions",
                        json={
                            "model": MODEL,
                            "messages": [{"role": "user", "content": "hi"}],
                            "max_tokens": 4,
                        },
                        headers={"Authorization": f"Bearer {ACME_KEY}"},
                    )
                    time.sleep(0.02)

        thread = threading.Thread(target=traffic, daemon=True)
        thread.start()
        try:
            with run_prometheus({"modelgate": [gw], "vllm": [sim]}, for_override="0s") as prom:
                prom.wait_until(lambda: prom.query('up{job="modelgate"} == 1'), timeout=30)
                prom.wait_until(lambda: prom.query('up{job="vllm"} == 1'), timeout=30)
                time.sleep(3)
                assert not prom.firing("HighErrorRate"), "pages before any fault"
                stack.set_faults(fail_rate=1.0, status=500)
                alerts = prom.wait_until(lambda: prom.firing("HighErrorRate"), timeout=60)
                assert alerts
                alert = alerts[0]
                assert alert["labels"]["severity"] == "page"
                assert "runbook_url" in alert["annotations"]
        finally:
            stop.set()
            thread.join(10)
