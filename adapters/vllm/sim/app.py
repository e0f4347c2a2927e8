"""The simulator as a raw ASGI app: `create_sim_app(SimConfig(...))`.

Routes (vLLM's OpenAI-compatible server, plus an admin surface for fault injection):

| route | what |
|---|---|
| `GET /health` | 200, empty body (503 with the `health_status` fault, as vLLM answers for a dead engine) |
| `GET /v1/models` | the served model, `owned_by: "vllm"`, `max_model_len` |
| `POST /v1/chat/completions`, `POST /v1/completions` | generation, JSON or SSE (`stream: true`) |
| `GET /metrics` | Prometheus text: vLLM's `vllm:*` metrics for the served model |
| `GET /admin/faults`, `POST /admin/faults` | read / change fault injection while running |

It is a plain ASGI callable rather than a FastAPI app because the gateway's benchmarks push thousands of
requests a second through it on two cores, and its CPU cost counts against theirs.

    app = create_sim_app(SimConfig(ttft_ms=0, itl_ms=0))
    uvicorn.run(app, loop="uvloop", http="httptools", access_log=False)
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from adapters.vllm.sim.answers import load_answers
from adapters.vllm.sim.config import SimConfig
from adapters.vllm.sim.gate import Gate
from adapters.vllm.sim.generation import Generation, Receive, Scope, Send, SimulatedDrop, read_body, send_json
from adapters.vllm.sim.metrics import SimMetrics
from adapters.vllm.sim.responses import dumps, error_body, models_body
from adapters.vllm.sim.tracing import SimTracer
from adapters.vllm.sim.wire import ApiError, parse_json_object

__all__ = ["SimApp", "create_sim_app"]

_NOT_FOUND = dumps({"detail": "Not Found"})
_NOT_ALLOWED = dumps({"detail": "Method Not Allowed"})


class _DropFilter(logging.Filter):
    """Keeps uvicorn from logging a traceback for each connection the drop fault cuts on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], SimulatedDrop))


_DROP_FILTER = _DropFilter()


class SimApp:
    """The ASGI callable. `generation.faults` holds the fault settings in force."""

    def __init__(self, config: SimConfig, registry: CollectorRegistry | None = None) -> None:
        problems = config.problems()
        if problems:
            raise ValueError("; ".join(problems))
        self.config = config
        answers = load_answers(config.answers_file) if config.answers_file is not None else {}
        self.gate = Gate(config.max_concurrency)
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = SimMetrics(config.model, self.gate.state, self.registry)
        self.tracer = (
            SimTracer(config.otlp_traces_endpoint, config.service_name)
            if config.otlp_traces_endpoint
            else None
        )
        self.generation = Generation(config, answers, self.gate, self.metrics, self.tracer)
        self._models = models_body(
            config.model, int(time.time()), config.max_model_len, f"modelperm-{os.urandom(16).hex()}"
        )
        self._routes = {
            ("POST", "/v1/chat/completions"): self._chat,
            ("POST", "/v1/completions"): self._completions,
            ("GET", "/health"): self._health,
            ("GET", "/v1/models"): self._list_models,
            ("GET", "/metrics"): self._metrics,
            ("GET", "/admin/faults"): self._get_faults,
            ("POST", "/admin/faults"): self._set_faults,
        }
        self._paths = {path for _, path in self._routes}
        uvicorn_errors = logging.getLogger("uvicorn.error")
        if _DROP_FILTER not in uvicorn_errors.filters:
            uvicorn_errors.addFilter(_DROP_FILTER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            handler = self._routes.get((scope["method"], scope["path"]))
            if handler is not None:
                await handler(scope, receive, send)
            elif scope["path"] in self._paths:
                await send_json(send, 405, _NOT_ALLOWED)
            else:
                await send_json(send, 404, _NOT_FOUND)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def aclose(self) -> None:
        """Flush and stop the span exporter (its flush blocks, so off the event loop)."""
        if self.tracer is not None:
            tracer, self.tracer = self.tracer, None
            await asyncio.to_thread(tracer.shutdown)

    async def _chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.generation.handle(scope, receive, send, chat=True)

    async def _completions(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.generation.handle(scope, receive, send, chat=False)

    async def _health(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = self.generation.faults.health_status
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    async def _list_models(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, 200, self._models)

    async def _metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = generate_latest(self.registry)
        headers = [
            (b"content-type", CONTENT_TYPE_LATEST.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _get_faults(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, 200, dumps(self.generation.faults.as_dict()))

    async def _set_faults(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            patch = parse_json_object(await read_body(receive))
            self.generation.faults = self.generation.faults.updated(patch)
        except ApiError as exc:
            await send_json(send, exc.status, error_body(exc.status, exc.message, exc.err_type, exc.param))
            return
        except ValueError as exc:
            await send_json(send, 400, error_body(400, str(exc), "BadRequestError", None))
            return
        await send_json(send, 200, dumps(self.generation.faults.as_dict()))


def create_sim_app(config: SimConfig, registry: CollectorRegistry | None = None) -> SimApp:
    """Build the simulator app. Raises ValueError for a config that cannot run or a bad answers file."""
    return SimApp(config, registry)
