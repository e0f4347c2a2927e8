"""Model calls through the official openai client against the real simulator: retries, timeouts, usage."""

import asyncio

import pytest

from evals.client import CompletionError, RetryPolicy, complete, make_client
from evals.runner import RunSettings, run_items
from evals.scorers import Outcome
from evals.suite import default_suites_dir, load_suite
from support.evals_helpers import MODEL, set_faults

pytestmark = pytest.mark.integration

FAST = RetryPolicy(retries=2, backoff_s=0.001, timeout_s=5)


def ask(base_url, prompt="What is the capital of France? Reply with the city name only.", **kwargs):
    async def go():
        client = make_client(base_url + "/v1", "key", timeout_s=5)
        try:
            options = {
                "model": MODEL,
                "prompt": prompt,
                "params": {"max_tokens": 32},
                "api": "chat",
                "policy": FAST,
            }
            return await complete(client, **{**options, **kwargs})
        finally:
            await client.close()

    return asyncio.run(go())


def test_chat_answer_and_usage(sim):
    done = ask(sim.base_url)
    assert done.text == "Paris."
    assert done.input_tokens > 0 and done.output_tokens > 0
    assert done.attempts == 1


def test_completions_api(sim):
    done = ask(sim.base_url, api="completions")
    assert done.text == "Paris."


def test_permanent_errors_are_not_retried(sim):
    with pytest.raises(CompletionError, match="HTTP 404") as info:
        ask(sim.base_url, model="no-such-model")
    assert info.value.attempts == 1


def test_transient_errors_are_retried_then_reported(sim):
    set_faults(sim.base_url, fail_rate=1.0, status=503, retry_after=0)
    with pytest.raises(CompletionError, match=r"HTTP 503.*after 3 attempts") as info:
        ask(sim.base_url)
    assert info.value.attempts == 3


def test_retry_after_is_honoured_with_backoff(sim):
    set_faults(sim.base_url, fail_rate=1.0, status=429, retry_after=2)
    delays = []

    async def fake_sleep(seconds):
        delays.append(seconds)

    with pytest.raises(CompletionError, match="HTTP 429"):
        ask(sim.base_url, sleep=fake_sleep)
    assert len(delays) == 2
    assert all(d >= 2 for d in delays)


def test_timeouts_are_retried_and_reported(sim):
    set_faults(sim.base_url, hang_rate=1.0, hang_seconds=5)
    with pytest.raises(CompletionError, match="timed out after 2 attempts"):
        ask(sim.base_url, policy=RetryPolicy(retries=1, backoff_s=0.001, timeout_s=0.2))


def test_a_flaky_upstream_still_gives_a_full_run(sim):
    set_faults(sim.base_url, fail_rate=0.3, status=500)
    items = load_suite(default_suites_dir() / "core.jsonl").items[:40]
    settings = RunSettings(
        model=MODEL, concurrency=8, policy=RetryPolicy(retries=8, backoff_s=0.001, timeout_s=5)
    )

    async def go():
        client = make_client(sim.base_url + "/v1", "key", timeout_s=5)
        try:
            return await run_items(client, items, settings)
        finally:
            await client.close()

    results = asyncio.run(go())
    assert [r.item_id for r in results] == [i.id for i in items]
    assert all(r.outcome is Outcome.PASS for r in results)
    assert sum(r.attempts for r in results) > len(results)  # some needed a retry


def test_exhausted_retries_make_error_outcomes_not_failures(sim):
    set_faults(sim.base_url, fail_rate=1.0, status=500)
    items = load_suite(default_suites_dir() / "core.jsonl").items[:3]
    settings = RunSettings(model=MODEL, policy=RetryPolicy(retries=1, backoff_s=0.001, timeout_s=5))

    async def go():
        client = make_client(sim.base_url + "/v1", "key", timeout_s=5)
        try:
            return await run_items(client, items, settings)
        finally:
            await client.close()

    results = asyncio.run(go())
    assert {r.outcome for r in results} == {Outcome.ERROR}
    assert all(r.score is None and "HTTP 500" in r.detail for r in results)
