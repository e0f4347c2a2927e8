"""The simulator against the official `openai` SDK, sync and async, streaming and not."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import openai
import pytest

from adapters.vllm.sim import SimConfig, SimServer

pytestmark = pytest.mark.integration

MODEL = "sim-llama-3-8b"
PROMPT = "Tell me about the weather in Lisbon today, please."


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(SimConfig(ttft_ms=2, itl_ms=0.5, tokens=12, max_model_len=512)) as server:
        yield server


@pytest.fixture
def client(sim: SimServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=sim.base_url + "/v1", api_key="unused", max_retries=0) as c:
        yield c


def test_models_lists_the_served_model(client: openai.OpenAI) -> None:
    models = client.models.list().data
    assert [m.id for m in models] == [MODEL]
    assert models[0].owned_by == "vllm"
    extra = models[0].model_extra or {}
    assert (extra["root"], extra["max_model_len"]) == (MODEL, 512)


def test_chat_non_streaming_echoes_and_reports_usage(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": PROMPT}],
    )
    assert resp.id.startswith("chatcmpl-")
    assert resp.object == "chat.completion"
    assert resp.model == MODEL
    choice = resp.choices[0]
    assert choice.message.role == "assistant"
    # The prompt is 11 tokens; the echo is padded to the configured 12 by starting it over.
    assert choice.message.content == PROMPT + " Tell"
    assert choice.finish_reason == "stop"
    assert resp.usage is not None
    # "Be brief." = 3 tokens, the prompt 11, plus 4 per message for the chat template.
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (22, 12, 34)


def test_chat_max_tokens_cuts_with_length(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": PROMPT}], max_tokens=3
    )
    assert resp.choices[0].message.content == "Tell me about"
    assert resp.choices[0].finish_reason == "length"
    assert resp.usage is not None and resp.usage.completion_tokens == 3


def test_chat_streaming_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": PROMPT}],
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=5,
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) == 5  # one chunk per token
    assert "".join(c.choices[0].delta.content or "" for c in content_chunks) == "Tell me about the weather"
    assert chunks[-2].choices[0].finish_reason == "length"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    assert {c.id for c in chunks} == {chunks[0].id} and chunks[0].object == "chat.completion.chunk"


def test_chat_streaming_without_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}], stream=True)
    )
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "Hi Hi Hi Hi Hi Hi Hi Hi Hi Hi Hi Hi"


def test_completions_streaming_and_not(client: openai.OpenAI) -> None:
    resp = client.completions.create(model=MODEL, prompt="Once upon a time there was", max_tokens=4)
    assert resp.id.startswith("cmpl-") and resp.object == "text_completion"
    assert resp.choices[0].text == "Once upon a time"
    assert resp.choices[0].finish_reason == "length"
    assert resp.usage is not None and resp.usage.prompt_tokens == 6
    chunks = list(
        client.completions.create(
            model=MODEL, prompt="Once upon", stream=True, stream_options={"include_usage": True}
        )
    )
    assert (
        "".join(c.choices[0].text for c in chunks if c.choices)
        == "Once upon Once upon Once upon Once upon Once upon Once upon"
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 12


def test_errors_map_to_openai_exceptions(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert missing.value.body == {
        "message": "The model `gpt-4o` does not exist.",
        "type": "NotFoundError",
        "param": "model",
        "code": 404,
    }
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}], max_tokens=0)
    assert bad.value.status_code == 400
    with pytest.raises(openai.BadRequestError, match="model's context length is only 512 tokens"):
        client.completions.create(model=MODEL, prompt="word " * 600)


def test_async_client_concurrent_streams(sim: SimServer) -> None:
    async def run() -> list[str]:
        async with openai.AsyncOpenAI(
            base_url=sim.base_url + "/v1", api_key="unused", max_retries=0
        ) as client:

            async def one(i: int) -> str:
                stream = await client.chat.completions.create(
                    model=MODEL,
                    messages=[{"role": "user", "content": f"question {i}"}],
                    stream=True,
                    max_tokens=2,
                )
                return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

            non_stream = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "async"}], max_tokens=1
            )
            assert non_stream.choices[0].message.content == "async"
            return await asyncio.gather(*(one(i) for i in range(8)))

    assert asyncio.run(run()) == [f"question {i}" for i in range(8)]
