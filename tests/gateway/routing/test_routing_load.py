"""Engine load read from vLLM's /metrics text — the simulator's real page and vLLM-shaped lines."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from adapters.vllm.sim.metrics import SimMetrics
from gateway.routing.load import EngineLoad, parse_engine_load

VLLM_PAGE = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="meta-llama/Llama-3-8B"} 3.0
vllm:num_requests_running{engine="1",model_name="meta-llama/Llama-3-8B"} 2.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="meta-llama/Llama-3-8B"} 1.0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="meta-llama/Llama-3-8B"} 0.25
vllm:kv_cache_usage_perc{engine="1",model_name="meta-llama/Llama-3-8B"} 0.5
vllm:num_requests_waiting_by_reason{reason="capacity"} 9
vllm:time_to_first_token_seconds_bucket{le="0.001",model_name="x"} 0.0
process_cpu_seconds_total 12.5
"""


def test_vllm_lines_are_summed_over_engines_and_kv_takes_the_fullest() -> None:
    assert parse_engine_load(VLLM_PAGE) == EngineLoad(running=5.0, waiting=1.0, kv_cache_usage=0.5)


def test_the_simulators_own_page_parses() -> None:
    registry = CollectorRegistry()
    SimMetrics("sim-llama-3-8b", lambda: (6, 2, 8), registry)
    load = parse_engine_load(generate_latest(registry).decode())
    assert load == EngineLoad(running=6.0, waiting=2.0, kv_cache_usage=0.75)


def test_a_page_without_vllm_gauges_or_with_junk_is_no_load() -> None:
    assert parse_engine_load("process_cpu_seconds_total 1\n") is None
    assert parse_engine_load("vllm:num_requests_running{broken 3\nvllm:num_requests_waiting NaN\n") is None
