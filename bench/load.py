"""One measured wrk window: warm-up, then the measured run, with the servers' CPU read around it.

    m = measure_http(url, script, servers=[gateway, sim], options=options)
    m.wrk.ok_rps, m.cpu_ms_per_request["gateway"]

The warm-up run is discarded: it opens the connections, fills the gateway's upstream pool and lets the
log writers reach their steady flushing rhythm before anything is counted.
"""

from __future__ import annotations

import json
import math
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procstat import tree_cpu_seconds
from bench.servers import Server
from bench.wrk import WrkResult, run_wrk

__all__ = ["HttpMeasurement", "LoadOptions", "check_post", "load_average", "measure_http", "wait_until_idle"]


@dataclass(frozen=True)
class LoadOptions:
    seconds: float = 10.0
    warmup_s: float = 3.0
    connections: int = 32
    threads: int = 1
    stream_seconds: float = 20.0
    max_streams: int = 2000


def load_average() -> float:
    """The 1-minute load average: the machine is shared, so every figure is printed next to it."""
    return os.getloadavg()[0]


@dataclass(frozen=True)
class HttpMeasurement:
    wrk: WrkResult
    cpu_s: dict[str, float]  # CPU seconds each server used during the measured window
    load_before: float
    load_after: float
    warmup_requests: int = 0

    def cpu_ms_per_request(self, name: str) -> float:
        done = self.wrk.requests - self.wrk.non_2xx
        return self.cpu_s[name] * 1e3 / done if done else math.nan

    def as_dict(self) -> dict[str, Any]:
        w = self.wrk
        return {
            "requests": w.requests,
            "duration_s": w.duration_s,
            "rps": w.rps,
            "ok_rps": w.ok_rps,
            "latency_ms": {
                "mean": w.mean_ms,
                "p50": w.p50_ms,
                "p75": w.p75_ms,
                "p90": w.p90_ms,
                "p99": w.p99_ms,
            },
            "latency_max_ms": w.max_ms,
            "non_2xx": w.non_2xx,
            "socket_errors": w.socket_errors,
            "cpu_ms_per_request": {name: self.cpu_ms_per_request(name) for name in self.cpu_s},
            "load_average": {"before": self.load_before, "after": self.load_after},
            "warmup_requests": self.warmup_requests,
        }


def check_post(url: str, body: str, headers: dict[str, str]) -> dict[str, Any]:
    """POST once and return the JSON answer; a non-200 raises with the body, before any load is run.

    wrk counts a 401 or 404 as a (very fast) response: one checked request first keeps a wrong key or
    route from being measured as throughput.
    """
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json", **headers}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"POST {url} answered {exc.code}: {exc.read()[:500]!r}") from None


def measure_http(
    url: str, script: Path, *, servers: Sequence[Server], options: LoadOptions
) -> HttpMeasurement:
    """Warm up for `options.warmup_s`, then measure `options.seconds` with the servers' CPU around it."""
    kwargs = {"connections": options.connections, "threads": options.threads}
    warmup = run_wrk(url, script, seconds=options.warmup_s, **kwargs).requests if options.warmup_s > 0 else 0
    load_before = load_average()
    before = {s.name: tree_cpu_seconds(s.pid) for s in servers}
    result = run_wrk(url, script, seconds=options.seconds, **kwargs)
    after = {s.name: tree_cpu_seconds(s.pid) for s in servers}
    for server in servers:
        server.check_alive()
    return HttpMeasurement(
        wrk=result,
        cpu_s={name: after[name] - before[name] for name in before},
        load_before=load_before,
        load_after=load_average(),
        warmup_requests=warmup,
    )


def wait_until_idle(
    server: Server,
    *,
    settle_s: float = 1.5,
    max_cpu_share: float = 0.05,
    window_s: float = 0.5,
    timeout_s: float = 30.0,
) -> float:
    """Wait until `server` uses under `max_cpu_share` of a core over `window_s`; return the seconds waited.

    For a trace receiver still ingesting the last run's spans, which would otherwise take CPU from the next
    run. `settle_s` first covers the gateway's batch-export delay (1 s), so the last export has been sent.
    """
    started = time.monotonic()
    time.sleep(settle_s)
    while time.monotonic() - started < timeout_s:
        before = tree_cpu_seconds(server.pid)
        time.sleep(window_s)
        if (tree_cpu_seconds(server.pid) - before) / window_s < max_cpu_share:
            break
    return time.monotonic() - started
