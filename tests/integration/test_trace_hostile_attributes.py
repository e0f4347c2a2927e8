"""A lone surrogate (`"\\udc00"`: valid JSON, not a character) in a traced LLM request: a 400 naming the
field, and the spans of the requests around it still reach the OTLP receiver.

Before, the string got as far as the upstream body (a 500: UTF-8 cannot encode it) and, as `user.id`,
onto the request's span, where the OTLP encoder raised and the export dropped the whole batch, other
tenants' spans with it. The gateway runs under uvicorn against the simulator, exporting to a bare OTLP
receiver on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from gateway.settings import Settings
from support.conftest_helpers import ACME_KEY
from support.llm_stack import MODEL, llm_stack
from support.otlp_receiver import Receiver, serve_receiver, spans_of

pytestmark = [pytest.mark.integration]

_BODY = '{"model": "%s", "max_tokens": 2, "user": "%s", "messages": [{"role": "user", "content": "%s"}]}'


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve_receiver(None)


def test_a_lone_surrogate_is_a_400_naming_the_field_and_the_traces_go_on(
    make_settings: Callable[..., Settings], receiver: Receiver
) -> None:
    tracing = {"enabled": True, "endpoint": receiver.url, "sample_ratio": 1.0}
    auth = {"Authorization": f"Bearer {ACME_KEY}", "content-type": "application/json"}
    bodies = [
        _BODY % (MODEL, "alice", "hi"),
        _BODY % (MODEL, "\\udc00 mallory", "hi"),
        _BODY % (MODEL, "bob", "hi \\ud800"),
        _BODY % (MODEL, "carol", "\\ud83d\\ude00"),  # a surrogate *pair* is one character: fine
    ]
    with llm_stack(make_settings, tracing=tracing) as stack:
        url = f"{stack.gateway_url}/v1/chat/completions"
        answers = [httpx.post(url, content=body, headers=auth, timeout=30) for body in bodies]
    # Leaving the stack shut the gateway down, which flushed its span queue to the receiver.
    assert [a.status_code for a in answers] == [200, 400, 400, 200], [a.text for a in answers]
    assert answers[1].json()["error"]["param"] == "user"
    assert answers[2].json()["error"]["param"] == "messages[0].content"
    assert "lone surrogate" in answers[1].json()["error"]["message"]
    spans = spans_of(receiver)
    users = sorted(kv.value.string_value for s in spans for kv in s.attributes if kv.key == "user.id")  # type: ignore[attr-defined]
    assert users == ["alice", "carol"]
    # Every request has its server span, the refused ones too; the two answered ones an LLM span each.
    server = [s for s in spans if s.kind == 2]  # type: ignore[attr-defined]
    assert len(server) == 4 and len(spans) == 6
