"""A vLLM-compatible simulator: vLLM's OpenAI API, SSE streaming, `vllm:*` metrics and fault injection,
with no GPU. It stands in for vLLM in `make run`, the tests, the eval harness and the benchmarks.

    from adapters.vllm.sim import SimConfig, SimServer
    with SimServer(SimConfig(ttft_ms=1, itl_ms=1)) as sim:
        ...  # talk to sim.base_url + "/v1" with the openai client

Modules: `config` (settings, faults), `wire` (request parsing as vLLM reads it), `fields` (lax
coercion as pydantic does it), `limits` (vLLM's serving-time checks), `errors` (`ApiError`),
`responses` (wire shapes),
`tokens` (the tokenizer), `answers` (scripted / wrong / echo answers), `gate` (concurrency),
`metrics` (vLLM metric names), `tracing` (optional OTLP spans), `generation` (one request),
`app` (ASGI routing), `server` (uvicorn), `cli` (`modelgate vllm-sim`).
"""

from adapters.vllm.sim.app import SimApp, create_sim_app
from adapters.vllm.sim.config import Faults, SimConfig
from adapters.vllm.sim.server import SimServer

__all__ = ["Faults", "SimApp", "SimConfig", "SimServer", "create_sim_app"]
