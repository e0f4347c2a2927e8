"""Run a suite's items through the gateway concurrently and score them.

At most `concurrency` items are in flight. Each item is asked once (retries inside `evals.client`), or
served from the response cache when `use_cache` is on and the (model, item id, request hash) key was
answered before; then scored by its deterministic scorer or by the judge. A failed call or an unparsable
judge reply makes an ERROR outcome — the run goes on.

    results = await run_items(client, suite.items, settings, store=store, progress=bar)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from openai import AsyncOpenAI

from evals.client import Completion, CompletionError, RetryPolicy, complete
from evals.config import Price
from evals.history import HistoryStore
from evals.judge import JudgeConfig, build_judge_messages, judge_config_from, judge_outcome
from evals.records import ItemResult
from evals.scorers import JUDGE, Outcome, Score, apply
from evals.suite import EvalItem
from monitoring.progress import ItemProgress

__all__ = ["RunSettings", "judge_text", "run_items"]


@dataclass(frozen=True)
class RunSettings:
    model: str
    api: str = "chat"
    concurrency: int = 8
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    price: Price | None = None
    use_cache: bool = False


def _cache_key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


async def _ask(
    client: AsyncOpenAI,
    store: HistoryStore | None,
    key: str | None,
    *,
    model: str,
    prompt: str | list[dict[str, Any]],
    params: dict[str, Any],
    api: str,
    policy: RetryPolicy,
) -> tuple[Completion, bool]:
    """The completion and whether it came from the cache."""
    if store is not None and key is not None:
        hit = store.cache_get(key)
        if hit is not None:
            return Completion(hit.output, hit.input_tokens, hit.output_tokens, 0.0, 0), True
    done = await complete(client, model=model, prompt=prompt, params=params, api=api, policy=policy)
    if store is not None and key is not None:
        store.cache_put(key, done.text, done.input_tokens, done.output_tokens)
    return done, False


async def judge_text(
    client: AsyncOpenAI,
    cfg: JudgeConfig,
    *,
    default_model: str,
    prompt: str | list[dict[str, Any]],
    output: str,
    reference: str | None,
    policy: RetryPolicy,
    store: HistoryStore | None = None,
) -> Score:
    """Ask the judge about one reply; ERROR when the call fails or the reply holds no score."""
    model = cfg.model or default_model
    messages = build_judge_messages(cfg, prompt, output, reference)
    key = _cache_key("judge", model, json.dumps(messages, sort_keys=True)) if store is not None else None
    params = {"temperature": 0, "max_tokens": cfg.max_tokens}
    try:
        done, _ = await _ask(
            client, store, key, model=model, prompt=messages, params=params, api="chat", policy=policy
        )
    except CompletionError as exc:
        return Score.error(f"judge call failed: {exc}")
    return judge_outcome(done.text, cfg)


async def _run_one(
    client: AsyncOpenAI, item: EvalItem, settings: RunSettings, store: HistoryStore | None
) -> ItemResult:
    key = _cache_key(settings.model, item.id, item.request_hash, settings.api) if settings.use_cache else None
    base = {"item_id": item.id, "key": item.key, "expected": item.expected, "tags": item.tags}
    try:
        done, cached = await _ask(
            client,
            store if settings.use_cache else None,
            key,
            model=settings.model,
            prompt=item.input,
            params=item.params,
            api=settings.api,
            policy=settings.policy,
        )
    except CompletionError as exc:
        return ItemResult(**base, outcome=Outcome.ERROR, score=None, detail=str(exc), attempts=exc.attempts)
    if item.scorer.type == JUDGE:
        cfg = judge_config_from(settings.judge, item.scorer.options)
        score = await judge_text(
            client,
            cfg,
            default_model=settings.model,
            prompt=item.input,
            output=done.text,
            reference=item.expected,
            policy=settings.policy,
            store=store if settings.use_cache else None,
        )
    else:
        score = apply(item.scorer, done.text, item.expected)
    cost = settings.price.cost(done.input_tokens, done.output_tokens) if settings.price else None
    return ItemResult(
        **base,
        outcome=score.outcome,
        score=score.value,
        output=done.text,
        detail=score.detail,
        latency_s=done.latency_s,
        input_tokens=done.input_tokens,
        output_tokens=done.output_tokens,
        cost_usd=cost,
        attempts=done.attempts,
        cached=cached,
    )


async def run_items(
    client: AsyncOpenAI,
    items: Sequence[EvalItem],
    settings: RunSettings,
    *,
    store: HistoryStore | None = None,
    progress: ItemProgress | None = None,
) -> list[ItemResult]:
    """Every item's result, in the suite's order."""
    gate = asyncio.Semaphore(settings.concurrency)

    async def one(item: EvalItem) -> ItemResult:
        async with gate:
            result = await _run_one(client, item, settings, store)
        if progress is not None:
            progress.advance(result.outcome.value)
        return result

    return list(await asyncio.gather(*(one(item) for item in items)))
