"""A replica's own view of its load, read from vLLM's Prometheus `/metrics`.

vLLM exports (labels `model_name`, `engine`), and the simulator matches:
- `vllm:num_requests_running`  sequences in the running batch
- `vllm:num_requests_waiting`  sequences queued for a slot
- `vllm:kv_cache_usage_perc`   KV-cache in use, 0..1 (1 = full; preemptions follow)

Only these three lines are read, by a small line parser: the full `prometheus_client` parser costs
~10× as much for a page of histograms the router does not need. Values are summed over label sets
(a server with several engines or LoRA names), except the KV-cache share, which takes the fullest engine.

    load = parse_engine_load(metrics_text)   # EngineLoad(running=3.0, waiting=0.0, kv_cache_usage=0.12)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["EngineLoad", "parse_engine_load"]

_RUNNING = "vllm:num_requests_running"
_WAITING = "vllm:num_requests_waiting"
_KV = "vllm:kv_cache_usage_perc"


@dataclass(frozen=True)
class EngineLoad:
    running: float
    waiting: float
    kv_cache_usage: float


def _sample(line: str) -> tuple[str, float] | None:
    """`name{labels} value [timestamp]` → (name, value); None for anything else."""
    brace = line.find("{")
    if brace >= 0:
        name = line[:brace]
        close = line.rfind("}")
        if close < brace:
            return None
        rest = line[close + 1 :].split()
    else:
        parts = line.split()
        if len(parts) < 2:
            return None
        name, rest = parts[0], parts[1:]
    if not rest:
        return None
    try:
        value = float(rest[0])
    except ValueError:
        return None
    return (name, value) if math.isfinite(value) else None


def parse_engine_load(text: str) -> EngineLoad | None:
    """The three gauges from a Prometheus text page; None when the page has none of them (not vLLM)."""
    running = waiting = kv = 0.0
    found = False
    for line in text.splitlines():
        if not line.startswith("vllm:"):
            continue
        sample = _sample(line)
        if sample is None:
            continue
        name, value = sample
        if name == _RUNNING:
            running += value
        elif name == _WAITING:
            waiting += value
        elif name == _KV:
            kv = max(kv, value)
        else:
            continue
        found = True
    if not found:
        return None
    return EngineLoad(max(0.0, running), max(0.0, waiting), min(1.0, max(0.0, kv)))
