"""The upstream call of a non-streaming request, as one `Outcome`, and its cancellation on disconnect.

    outcome = await call_until_disconnect(complete_once(upstream, call, path, body, headers, 300.0, False),
                                          request.receive)

`complete_once` never raises for an upstream failure: a timeout, a transport error, an upstream error status
or a body that is not an OpenAI response each become an outcome with the error and the status the client
will get. `call_until_disconnect` cancels the upstream call when the client goes away before the answer
(vLLM aborts a request whose connection closes), so nobody pays for an answer no one will read beyond what
was generated until then (nothing is reported, so the reservation is released).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Coroutine
from typing import Any

from adapters.vllm.client import Upstream
from adapters.vllm.errors import UpstreamFailure, UpstreamTimeoutError
from gateway.llm.accounting import estimate_usage, usage_from_response
from gateway.llm.admission import Call
from gateway.llm.outcome import CLIENT_CLOSED, Outcome
from gateway.llm.upstream_errors import to_gateway_error

__all__ = ["call_until_disconnect", "complete_once"]


async def complete_once(
    upstream: Upstream,
    call: Call,
    path: str,
    body: bytes,
    headers: dict[str, str],
    total_timeout_s: float,
    keep_text: bool,
) -> Outcome:
    failure: UpstreamFailure
    try:
        async with asyncio.timeout(total_timeout_s):
            raw = await upstream.post_json(path, body, headers)
    except TimeoutError:
        failure = UpstreamTimeoutError("upstream did not answer in time")
        return Outcome(status=to_gateway_error(failure).http_status, error=failure)
    except UpstreamFailure as exc:
        return Outcome(status=to_gateway_error(exc).http_status, error=exc)
    try:
        doc = json.loads(raw)
        choices = doc["choices"]
        texts = [_choice_text(c) for c in choices]
        finish_reasons = [str(c["finish_reason"]) for c in choices if c.get("finish_reason")]
    except (ValueError, KeyError, TypeError, AttributeError):
        failure = UpstreamFailure("upstream answered 200 with a body that is not an OpenAI response")
        return Outcome(status=502, error=failure)
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
    )


def _choice_text(choice: dict[str, Any]) -> str:
    text = choice.get("text")
    if text is None:
        text = (choice.get("message") or {}).get("content")
    return text if isinstance(text, str) else ""


async def call_until_disconnect(work: Coroutine[Any, Any, Outcome], receive: Any) -> Outcome:
    """`await work`, unless the client disconnects first: then cancel it and report 499."""
    task = asyncio.current_task()
    assert task is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        while (await receive())["type"] != "http.disconnect":
            pass
        gone = True
        task.cancel()

    watcher = asyncio.create_task(watch())
    try:
        return await work
    except asyncio.CancelledError:
        if not gone:
            raise  # the server is shutting down: the route records the outcome on its way out
        task.uncancel()
        return Outcome(status=CLIENT_CLOSED)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
