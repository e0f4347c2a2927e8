"""One model call through the gateway with the official `openai` client: retries, timeout, usage.

The SDK's own retries are turned off (`max_retries=0` on the client) so this loop decides: 429, 5xx,
timeouts and dropped connections are retried with exponential backoff and jitter (honouring a short
`Retry-After`); any other error (400, 401, 404, …) fails the item at once. What is left after the last
retry is a `CompletionError`, which the runner records as an ERROR outcome.

    client = make_client(base_url, api_key, timeout_s=60)
    done = await complete(client, model="m", prompt="2+2?", params={}, api="chat", policy=RetryPolicy())
    done.text, done.input_tokens, done.attempts
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import openai
from openai import AsyncOpenAI

__all__ = ["Completion", "CompletionError", "RetryPolicy", "complete", "make_client"]

# Longest server-requested wait honoured; beyond it the item fails instead of stalling the run.
MAX_RETRY_AFTER_S = 30.0


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3
    backoff_s: float = 0.5
    timeout_s: float = 60.0


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    latency_s: float  # of the attempt that succeeded
    attempts: int


class CompletionError(Exception):
    """The call failed for good; `attempts` says how many tries were made."""

    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


def make_client(base_url: str, api_key: str, *, timeout_s: float) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=0)


def _transient(exc: Exception) -> bool:
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 429) or exc.status_code >= 500
    return False


def _retry_after(exc: Exception) -> float | None:
    if not isinstance(exc, openai.APIStatusError):
        return None
    value = exc.response.headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds <= MAX_RETRY_AFTER_S else None


def _describe(exc: Exception) -> str:
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {exc.message}"
    if isinstance(exc, openai.APITimeoutError):
        return "timed out"
    if isinstance(exc, openai.APIConnectionError):
        return f"connection failed: {exc.__cause__ or exc}"
    return f"{type(exc).__name__}: {exc}"


async def _call(
    client: AsyncOpenAI,
    model: str,
    prompt: str | list[dict[str, Any]],
    params: dict[str, Any],
    api: str,
    timeout: float,
) -> tuple[str, int, int]:
    if api == "completions":
        if not isinstance(prompt, str):
            raise CompletionError("the completions API takes a prompt string, not chat messages", 0)
        text_resp = await client.completions.create(model=model, prompt=prompt, timeout=timeout, **params)
        if not text_resp.choices:
            raise CompletionError("the response had no choices", 0)
        text = text_resp.choices[0].text or ""
        usage = text_resp.usage
    else:
        messages: Any = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        chat_resp = await client.chat.completions.create(
            model=model, messages=messages, timeout=timeout, **params
        )
        if not chat_resp.choices:
            raise CompletionError("the response had no choices", 0)
        text = chat_resp.choices[0].message.content or ""
        usage = chat_resp.usage
    if usage is None:
        return text, 0, 0
    return text, usage.prompt_tokens or 0, usage.completion_tokens or 0


async def complete(
    client: AsyncOpenAI,
    *,
    model: str,
    prompt: str | list[dict[str, Any]],
    params: dict[str, Any],
    api: str,
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
) -> Completion:
    """Ask once, retrying transient failures per `policy`. Raises CompletionError."""
    jitter = rng or random.Random()
    for attempt in range(1, policy.retries + 2):
        started = time.perf_counter()
        try:
            text, tokens_in, tokens_out = await _call(client, model, prompt, params, api, policy.timeout_s)
        except CompletionError as exc:
            raise CompletionError(str(exc), attempt) from None
        except openai.OpenAIError as exc:
            if not _transient(exc) or attempt > policy.retries:
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                raise CompletionError(f"{_describe(exc)}{tries}", attempt) from exc
            delay = policy.backoff_s * 2 ** (attempt - 1) * (0.5 + jitter.random())
            await sleep(max(delay, _retry_after(exc) or 0.0))
            continue
        return Completion(text, tokens_in, tokens_out, time.perf_counter() - started, attempt)
    raise AssertionError("unreachable")  # the loop returns or raises on its last attempt
