"""With the gateway's tracing off, a client's `traceparent` still reaches vLLM: the simulator's own span
(exported to a bare OTLP receiver on 127.0.0.1) is a child of the client's span, in the client's trace."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from adapters.vllm.sim.config import SimConfig
from gateway.settings import Settings
from support.conftest_helpers import ACME_KEY
from support.llm_stack import MODEL, llm_stack
from support.otlp_receiver import Receiver, serve_receiver, spans_of

pytestmark = [pytest.mark.integration]

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve_receiver(None)


def test_client_traceparent_is_forwarded_when_tracing_is_off(
    make_settings: Callable[..., Settings], receiver: Receiver
) -> None:
    sim = SimConfig(ttft_ms=1, itl_ms=1, tokens=4, seed=1, otlp_traces_endpoint=receiver.url + "/v1/traces")
    with llm_stack(make_settings, sim=sim, tracing={"enabled": False}) as stack:
        response = httpx.post(
            f"{stack.gateway_url}/v1/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4},
            headers={
                "Authorization": f"Bearer {ACME_KEY}",
                "traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01",
            },
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert "x-trace-id" not in response.headers  # the gateway itself records nothing
        deadline = time.monotonic() + 20  # the simulator's batch processor exports every 5 s
        spans = spans_of(receiver)
        while not spans and time.monotonic() < deadline:
            receiver.got_one.wait(1)
            spans = spans_of(receiver)
    assert spans, "the simulator exported no span: it received no traceparent"
    span = spans[0]
    assert span.trace_id.hex() == CLIENT_TRACE  # type: ignore[attr-defined]
    assert span.parent_span_id.hex() == CLIENT_SPAN  # type: ignore[attr-defined]


def test_without_a_client_traceparent_nothing_is_invented(
    make_settings: Callable[..., Settings], receiver: Receiver
) -> None:
    sim = SimConfig(ttft_ms=1, itl_ms=1, tokens=4, seed=1, otlp_traces_endpoint=receiver.url + "/v1/traces")
    with llm_stack(make_settings, sim=sim, tracing={"enabled": False}) as stack:
        response = httpx.post(
            f"{stack.gateway_url}/v1/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4},
            headers={"Authorization": f"Bearer {ACME_KEY}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
    # The simulator traces only requests that carry a traceparent; its provider is flushed when the
    # app stops, so an invented traceparent would have produced a span by now.
    assert not spans_of(receiver)
