"""A request's handler learns that its client has gone (gateway.connection_lost).

Unit tests on a real event loop for the signal and both ways `ClientDeparture` watches; an integration
test under real uvicorn with the gateway's protocol, the client a raw socket that hangs up.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.connection_lost import EXTENSION, ClientDeparture, ConnectionLost
from gateway.http_server import uvicorn_options
from gateway.llm.complete import call_until_disconnect
from gateway.llm.outcome import CLIENT_CLOSED, Outcome
from gateway.settings import ServerSettings
from support.servers import uvicorn_thread


def test_the_signal_runs_each_callback_once_and_at_once_after_the_loss() -> None:
    signal = ConnectionLost()
    calls: list[str] = []
    signal.add(lambda: calls.append("a"))
    gone = lambda: calls.append("b")  # noqa: E731
    signal.add(gone)
    signal.discard(gone)
    signal.discard(gone)  # discarding twice is harmless
    signal.fire()
    signal.fire()
    assert calls == ["a"]
    signal.add(lambda: calls.append("late"))  # registered after the loss: called right away
    assert calls == ["a", "late"]


async def _never_disconnects() -> dict[str, Any]:
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


async def _slow_work() -> Outcome:
    await asyncio.sleep(3600)
    raise AssertionError("the work should have been cancelled")


async def _quick_work() -> Outcome:
    await asyncio.sleep(0)
    return Outcome(status=200)


async def _left_through_the_signal() -> None:
    signal = ConnectionLost()
    scope = {"type": "http", "extensions": {EXTENSION: signal}}
    before = len(asyncio.all_tasks())
    pending = asyncio.ensure_future(call_until_disconnect(_slow_work(), scope, _never_disconnects))
    await asyncio.sleep(0.01)
    assert len(asyncio.all_tasks()) == before + 1  # the call itself, and no watcher task
    signal.fire()
    outcome = await pending
    assert outcome.status == CLIENT_CLOSED
    # A call that ends first leaves nothing registered: a later loss calls no one.
    assert (
        await call_until_disconnect(
            _quick_work(), scope | {"extensions": {EXTENSION: ConnectionLost()}}, _never_disconnects
        )
    ).status == 200


def test_a_call_ends_with_499_when_the_protocol_signals_the_loss() -> None:
    asyncio.run(_left_through_the_signal())


async def _left_through_receive() -> None:
    hung_up = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await hung_up.wait()
        return {"type": "http.disconnect"}

    pending = asyncio.ensure_future(call_until_disconnect(_slow_work(), {"type": "http"}, receive))
    await asyncio.sleep(0.01)
    hung_up.set()
    assert (await pending).status == CLIENT_CLOSED
    # A call that ends first stops its watcher.
    before = len(asyncio.all_tasks())
    assert (await call_until_disconnect(_quick_work(), {"type": "http"}, _never_disconnects)).status == 200
    assert len(asyncio.all_tasks()) == before


def test_without_the_signal_a_task_watches_receive_as_before() -> None:
    asyncio.run(_left_through_receive())


async def _shutdown_cancel_is_not_a_departure() -> None:
    scope = {"type": "http", "extensions": {EXTENSION: ConnectionLost()}}
    pending = asyncio.ensure_future(call_until_disconnect(_slow_work(), scope, _never_disconnects))
    await asyncio.sleep(0.01)
    pending.cancel()  # what uvicorn does to a request still running when shutdown's grace ends
    with pytest.raises(asyncio.CancelledError):
        await pending


def test_a_cancellation_from_outside_is_passed_on_not_taken_for_a_departure() -> None:
    asyncio.run(_shutdown_cancel_is_not_a_departure())


# -- through real uvicorn ------------------------------------------------------------------------------


class _WaitsForDeparture:
    def __init__(self) -> None:
        self.entered = threading.Event()
        self.left = threading.Event()
        self.had_signal = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/healthz":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        self.had_signal = EXTENSION in scope.get("extensions", {})
        gone = asyncio.Event()
        async with ClientDeparture(scope, receive, gone.set):
            self.entered.set()
            await asyncio.wait_for(gone.wait(), 10)
        self.left.set()


@pytest.fixture
def departure_app() -> Iterator[tuple[int, _WaitsForDeparture]]:
    app = _WaitsForDeparture()
    with uvicorn_thread(app, **uvicorn_options(ServerSettings.model_validate({}))) as url:
        yield int(url.rsplit(":", 1)[1]), app


@pytest.mark.integration
def test_a_client_that_hangs_up_is_noticed_through_the_protocol(
    departure_app: tuple[int, _WaitsForDeparture],
) -> None:
    port, app = departure_app
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /work HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}")
        assert app.entered.wait(10)
    assert app.left.wait(10), "the handler never learnt that its client had gone"
    assert app.had_signal
