"""The LLM lane on loopback: the vLLM simulator and the gateway, each under uvicorn in a thread (the gateway
with the protocol and limits `modelgate serve` runs, gateway.http_server.uvicorn_options)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from adapters.vllm.sim.app import create_sim_app
from adapters.vllm.sim.config import SimConfig
from gateway.app import create_app
from gateway.http_server import uvicorn_options
from gateway.settings import Settings
from gateway.tracing.setup import Tracing
from support.servers import uvicorn_thread

MODEL = "sim-llama-3-8b"


@dataclass
class LLMStack:
    gateway_url: str
    sim_url: str
    settings: Settings

    def set_faults(self, **faults: Any) -> None:
        httpx.post(f"{self.sim_url}/admin/faults", json=faults, timeout=5).raise_for_status()


@contextlib.contextmanager
def llm_stack(
    make_settings: Callable[..., Settings],
    *,
    sim: SimConfig | None = None,
    tracing_obj: Tracing | None = None,
    **overrides: Any,
) -> Iterator[LLMStack]:
    sim_config = sim or SimConfig(ttft_ms=2, itl_ms=1, tokens=8, seed=1)
    with uvicorn_thread(create_sim_app(sim_config), ready_path="/health") as sim_url:
        llm = {
            "upstream_url": f"{sim_url}/v1",
            "models": [sim_config.model],
            "prices": {sim_config.model: {"input_per_mtok": 1000.0, "output_per_mtok": 2000.0}},
            **overrides.pop("llm", {}),
        }
        settings = make_settings(llm=llm, **overrides)
        app = create_app(settings, tracing=tracing_obj)
        with uvicorn_thread(app, **uvicorn_options(settings.server)) as gateway_url:
            yield LLMStack(gateway_url, sim_url, settings)
