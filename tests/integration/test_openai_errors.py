"""OpenAI's error vocabulary on /v1/*, read by the official openai SDK: each failure raises the SDK's own
exception class with OpenAI's `type` and `code`, through the real lane (gateway + simulator on loopback)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import openai
import pytest

from adapters.vllm.sim.config import SimConfig
from gateway.settings import Settings
from support.conftest_helpers import ACME_KEY
from support.llm_stack import MODEL, LLMStack, llm_stack

pytestmark = pytest.mark.integration

MESSAGES = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def lane(make_settings: Callable[..., Settings]) -> Iterator[LLMStack]:
    # A short context window, so a long prompt meets the upstream's own context-length check.
    with llm_stack(
        make_settings, sim=SimConfig(ttft_ms=1, itl_ms=1, tokens=4, seed=1, max_model_len=64)
    ) as s:
        yield s


def _client(stack: LLMStack, key: str = ACME_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stack.gateway_url}/v1", api_key=key, max_retries=0)


def test_errors_raise_the_sdks_classes_with_openais_words(lane: LLMStack) -> None:
    with pytest.raises(openai.AuthenticationError) as bad_key:
        _client(lane, key="mg-not-a-key-0123456789").chat.completions.create(model=MODEL, messages=MESSAGES)
    assert (bad_key.value.status_code, bad_key.value.type, bad_key.value.code) == (
        401,
        "invalid_request_error",
        "invalid_api_key",
    )

    client = _client(lane)
    with pytest.raises(openai.NotFoundError) as no_model:
        client.chat.completions.create(model="gpt-nonexistent", messages=MESSAGES)
    assert (no_model.value.code, no_model.value.param) == ("model_not_found", "model")

    long_prompt = [{"role": "user", "content": "churn " * 200}]
    with pytest.raises(openai.BadRequestError) as too_long:
        client.chat.completions.create(model=MODEL, messages=long_prompt, max_tokens=4)
    assert (too_long.value.type, too_long.value.code) == ("invalid_request_error", "context_length_exceeded")
    assert "context length" in too_long.value.message  # the upstream's own words reach the client

    with pytest.raises(openai.BadRequestError) as malformed:
        client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens="many")  # type: ignore[arg-type]
    assert (malformed.value.type, malformed.value.param) == ("invalid_request_error", "max_tokens")

    lane.set_faults(fail_rate=1.0, status=429)
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=4)
    assert limited.value.code == "rate_limit_exceeded"
    lane.set_faults(fail_rate=0.0, status=500)


def test_the_churn_routes_speak_the_same_words(lane: LLMStack) -> None:
    r = httpx.post(
        f"{lane.gateway_url}/v1/churn/predict", json={}, headers={"Authorization": "Bearer nope-123"}
    )
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert r.json()["error"]["code"] == "invalid_api_key"
