"""`GET /v1/models` over the fleet: each served model listed once, whichever replicas serve it.

Each healthy replica is asked for its own list (vLLM's entries carry `max_model_len`, `root`, …); the
first answer for a model wins, and only the models configured for that replica are kept (a replica may
serve more names than the gateway routes to it). A configured model whose replicas are all out is
still listed, with a minimal entry: a fallback may serve it, and a list that flickers with replica
health would break clients that cache it. Spec: https://platform.openai.com/docs/api-reference/models/list

    body = await fleet_models(router)   # {"object": "list", "data": [{"id": "llama-3-8b", ...}, ...]}
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from adapters.vllm.errors import UpstreamFailure, UpstreamProtocolError
from gateway.routing.attempts import NoReplicaAvailable
from gateway.routing.router import Replica, Router

__all__ = ["fleet_models"]


async def _replica_models(replica: Replica) -> list[dict[str, Any]]:
    doc = json.loads(await replica.client.get_json("/models"))
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, list):
        raise UpstreamProtocolError("upstream /v1/models answered without a data list")
    models = replica.spec.models
    return [
        m
        for m in data
        if isinstance(m, dict) and isinstance(m.get("id"), str) and (models is None or m["id"] in models)
    ]


async def fleet_models(router: Router) -> bytes:
    """The merged list. Raises the first replica's UpstreamFailure only when nothing at all is known."""
    healthy = [r for r in router.replicas if r.health.healthy]
    answers = await asyncio.gather(*(_replica_models(r) for r in healthy), return_exceptions=True)
    by_id: dict[str, dict[str, Any]] = {}
    failure: BaseException | None = None
    for answer in answers:
        if isinstance(answer, BaseException):
            failure = failure or answer
            continue
        for entry in answer:
            by_id.setdefault(entry["id"], entry)
    for model in router.served_models():
        by_id.setdefault(model, {"id": model, "object": "model", "created": 0, "owned_by": "modelgate"})
    if not by_id:
        if failure is None:
            raise NoReplicaAvailable("(any)", ())
        if isinstance(failure, UpstreamFailure):
            raise failure
        raise UpstreamProtocolError(f"upstream /v1/models: {failure}")
    return json.dumps({"object": "list", "data": list(by_id.values())}).encode()
