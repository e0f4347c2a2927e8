"""The OTel GenAI client metrics on /metrics, through the real lane (simulator + gateway + openai SDK):
the spec's bucket boundaries, one observation per operation, tokens as billed, time to first chunk only
for streams, and trace-id exemplars on the time-to-first-token histograms."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import openai
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from gateway.settings import Settings
from support.conftest_helpers import ACME_KEY
from support.llm_stack import MODEL, llm_stack
from support.servers import free_port

pytestmark = pytest.mark.integration

MESSAGES = [{"role": "user", "content": "say something about churn"}]
# gen-ai-metrics.md (semantic conventions v1.41).
SPEC_DURATION = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
SPEC_TOKENS = [4.0**i for i in range(14)]
SPEC_TTFT = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]


def _families(url: str) -> dict[str, list]:
    text = httpx.get(
        f"{url}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}, timeout=10
    ).text
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def _bounds(samples: list, **labels: str) -> list[float]:
    return [
        float(s.labels["le"])
        for s in samples
        if s.name.endswith("_bucket") and s.labels["le"] != "+Inf" and labels.items() <= s.labels.items()
    ]


def _value(samples: list, name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def test_genai_client_metrics_follow_the_spec(make_settings: Callable[..., Settings]) -> None:
    # Tracing on (spans go to a closed port and are dropped): exemplars need recorded spans.
    tracing = {"enabled": True, "endpoint": f"http://127.0.0.1:{free_port()}", "export_timeout_s": 0.2}
    with llm_stack(make_settings, tracing=tracing) as stack:
        client = openai.OpenAI(base_url=f"{stack.gateway_url}/v1", api_key=ACME_KEY, max_retries=0)
        done = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=5)
        assert done.usage is not None
        streamed = client.chat.completions.with_raw_response.create(
            model=MODEL,
            messages=MESSAGES,
            max_tokens=5,
            stream=True,
            stream_options={"include_usage": True},
        )
        trace_id = streamed.headers["x-trace-id"]
        chunks = list(streamed.parse())
        usage = chunks[-1].usage
        assert usage is not None
        text = client.completions.create(model=MODEL, prompt="once upon a time", max_tokens=3)
        assert text.usage is not None
        families = _families(stack.gateway_url)

    chat = {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "vllm", "gen_ai_request_model": MODEL}
    completion = {**chat, "gen_ai_operation_name": "text_completion"}

    duration = families["gen_ai_client_operation_duration_seconds"]
    assert _bounds(duration, **chat) == SPEC_DURATION
    assert _value(duration, "gen_ai_client_operation_duration_seconds_count", **chat, error_type="") == 2
    assert _value(duration, "gen_ai_client_operation_duration_seconds_count", **completion) == 1

    tokens = families["gen_ai_client_token_usage"]
    assert _bounds(tokens, **chat, gen_ai_token_type="input") == SPEC_TOKENS
    input_sum = _value(tokens, "gen_ai_client_token_usage_sum", **chat, gen_ai_token_type="input")
    output_sum = _value(tokens, "gen_ai_client_token_usage_sum", **chat, gen_ai_token_type="output")
    assert input_sum == done.usage.prompt_tokens + usage.prompt_tokens
    assert output_sum == done.usage.completion_tokens + usage.completion_tokens
    assert _value(tokens, "gen_ai_client_token_usage_count", **completion, gen_ai_token_type="output") == 1

    ttfc = families["gen_ai_client_operation_time_to_first_chunk_seconds"]
    assert _bounds(ttfc, **chat) == SPEC_TTFT
    assert (
        _value(ttfc, "gen_ai_client_operation_time_to_first_chunk_seconds_count", **chat) == 1
    )  # stream only

    # Both time-to-first histograms link the streamed request's trace.
    for family in (
        "gen_ai_client_operation_time_to_first_chunk_seconds",
        "gen_ai_server_time_to_first_token_seconds",
    ):
        exemplars = [s.exemplar for s in families[family] if s.exemplar is not None]
        assert [e.labels["trace_id"] for e in exemplars] == [trace_id], family
