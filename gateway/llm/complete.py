"""The upstream call of a non-streaming request, as one `Outcome`, and its cancellation on disconnect.

    outcome = await call_until_disconnect(
        complete_once(route, call, path, body, headers, 300.0, False), request.scope, request.receive
    )

`complete_once` never raises for an upstream failure: a timeout, a transport error, an upstream error status
or a body that is not an OpenAI response each become an outcome with the error and the status the client
will get. The call goes to a replica of the fleet chosen by `route` (gateway/llm/upstream_call.py), which
retries on another replica while nothing has been answered. `call_until_disconnect` cancels the upstream
call when the client goes away before the answer (vLLM aborts a request whose connection closes), so
nobody pays for an answer no one will read beyond what was generated until then (nothing is reported, so
the reservation is released). It learns of the departure from the protocol (gateway/connection_lost.py)
rather than from a task waiting on `receive()`, when the server provides it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import orjson
from starlette.types import Receive, Scope

from adapters.vllm.errors import UpstreamFailure
from gateway.connection_lost import ClientDeparture
from gateway.llm.accounting import estimate_usage, usage_from_response
from gateway.llm.admission import Call
from gateway.llm.outcome import CLIENT_CLOSED, Outcome
from gateway.llm.upstream_call import Route
from gateway.llm.upstream_errors import to_gateway_error

__all__ = ["call_until_disconnect", "complete_once"]


async def complete_once(
    route: Route,
    call: Call,
    path: str,
    body: bytes,
    headers: dict[str, str],
    total_timeout_s: float,
    keep_text: bool,
) -> Outcome:
    failure: UpstreamFailure
    try:
        lease, raw = await route.post(call.request, path, body, headers, total_timeout_s)
    except UpstreamFailure as exc:  # every replica tried failed (or none was left): its status
        return Outcome(status=to_gateway_error(exc).http_status, error=exc)
    try:
        doc = orjson.loads(raw)  # the upstream's body; 5x faster than json here, same ValueError
        choices = doc["choices"]
        texts = [_choice_text(c) for c in choices]
        finish_reasons = [str(c["finish_reason"]) for c in choices if c.get("finish_reason")]
    except (ValueError, KeyError, TypeError, AttributeError):
        failure = UpstreamFailure("upstream answered 200 with a body that is not an OpenAI response")
        return Outcome(status=502, error=failure, lease=lease)
    usage = usage_from_response(doc)
    if usage is None:
        with_text = sum(1 for t in texts if t)
        usage = estimate_usage(
            call.input_estimate, sum(map(len, texts)), with_text, call.request.output_bound
        )
    return Outcome(
        status=200,
        usage=usage,
        finish_reasons=finish_reasons,
        response_id=doc.get("id"),
        response_model=doc.get("model"),
        output_text=texts[0] if keep_text and texts else None,
        body=raw,
        lease=lease,
    )


def _choice_text(choice: dict[str, Any]) -> str:
    text = choice.get("text")
    if text is None:
        text = (choice.get("message") or {}).get("content")
    return text if isinstance(text, str) else ""


async def call_until_disconnect(
    work: Coroutine[Any, Any, Outcome], scope: Scope, receive: Receive
) -> Outcome:
    """`await work`, unless the client disconnects first: then cancel it and report 499."""
    task = asyncio.current_task()
    assert task is not None
    gone = False

    def left() -> None:
        nonlocal gone
        gone = True
        task.cancel()

    try:
        async with ClientDeparture(scope, receive, left):
            return await work
    except asyncio.CancelledError:
        if not gone:
            raise  # the server is shutting down: the route records the outcome on its way out
        task.uncancel()
        return Outcome(status=CLIENT_CLOSED)
