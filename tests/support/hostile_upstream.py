"""A hostile OpenAI-compatible upstream for fault tests: a raw ASGI app whose behaviour the request's
`model` picks. It records every request's headers so tests can see what the gateway forwarded.

    redirect     307 to `redirect_target` (which counts whether anything followed it)
    huge-first-line  a stream whose first SSE line never ends (grows past any limit)
    huge-line    a stream with one good chunk, then a line that never ends
    huge-event   a stream of many `data:` lines with no blank line between them
    huge-body    a non-streaming body of 20 MiB
    stall-first  never answers
    stall-mid    a stream that sends one chunk, then nothing
    forever      a stream that never ends (a chunk every 20 ms)
    anything else  a normal completion (streamed or not)
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Receive, Scope, Send

MODELS = [
    "ok", "redirect", "huge-first-line", "huge-line", "huge-event", "huge-body",
    "stall-first", "stall-mid", "forever",
]  # fmt: skip

_SSE = [(b"content-type", b"text/event-stream")]


def _chunk(text: str) -> bytes:
    doc = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "model": "ok",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(doc).encode() + b"\n\n"


_COMPLETION = json.dumps(
    {
        "id": "c1",
        "object": "chat.completion",
        "model": "ok",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
).encode()


@dataclass
class HostileUpstream:
    redirect_target: str = ""
    seen_headers: list[dict[str, str]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.seen_headers.append({k.decode(): v.decode("latin-1") for k, v in scope["headers"]})
        if scope["path"] in ("/healthz", "/health"):
            await _answer(send, 200, b"{}")
            return
        try:
            payload: dict[str, Any] = json.loads(body or b"{}")
        except ValueError:
            payload = {}
        model = payload.get("model", "ok")
        stream = bool(payload.get("stream"))
        if model == "redirect":
            await send(
                {
                    "type": "http.response.start",
                    "status": 307,
                    "headers": [(b"location", self.redirect_target.encode()), (b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": b""})
        elif model == "huge-body":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            for _ in range(320):
                await send({"type": "http.response.body", "body": b" " * 65536, "more_body": True})
            await send({"type": "http.response.body", "body": _COMPLETION})
        elif model == "stall-first":
            await asyncio.sleep(3600)
        elif model in ("huge-first-line", "huge-line", "huge-event", "stall-mid", "forever") or stream:
            await send({"type": "http.response.start", "status": 200, "headers": _SSE})
            if model in ("huge-first-line", "huge-line"):
                if model == "huge-line":
                    await send({"type": "http.response.body", "body": _chunk("one"), "more_body": True})
                await send({"type": "http.response.body", "body": b"data: ", "more_body": True})
                for _ in range(64):
                    await send({"type": "http.response.body", "body": b"x" * 65536, "more_body": True})
                    await asyncio.sleep(0)
            elif model == "huge-event":
                for _ in range(4096):
                    await send(
                        {
                            "type": "http.response.body",
                            "body": b"data: " + b"y" * 1024 + b"\n",
                            "more_body": True,
                        }
                    )
            elif model == "stall-mid":
                await send({"type": "http.response.body", "body": _chunk("one"), "more_body": True})
                await asyncio.sleep(3600)
            elif model == "forever":
                while True:
                    await send({"type": "http.response.body", "body": _chunk("more"), "more_body": True})
                    await asyncio.sleep(0.02)
            else:
                await send({"type": "http.response.body", "body": _chunk("hi"), "more_body": True})
                await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})
        else:
            await _answer(send, 200, _COMPLETION)


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


@dataclass
class Counter:
    """A redirect target: counts the requests that reached it (none may)."""

    hits: int = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["path"] != "/healthz":
            self.hits += 1
        await _answer(send, 200, _COMPLETION)
