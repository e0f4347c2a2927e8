"""Demo traffic: churn customers from the generator (calm or shifted) and LLM chats, sent over HTTP."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx

from adapters.churn.generator import ShiftSpec, generate_customers

__all__ = ["churn_rows", "send_churn", "send_llm"]

_SHIFT = ShiftSpec(price_factor=1.25, tenure_factor=0.6, month_to_month_share=0.4)
_QUESTIONS = ("What is 17 + 25?", "Name the capital of France.", "Say hello in one word.", "What is 9 * 8?")


def churn_rows(n: int, *, seed: int, shifted: bool = False) -> list[dict[str, Any]]:
    df = generate_customers(n, seed=seed, shift=_SHIFT if shifted else ShiftSpec())
    rows: list[dict[str, Any]] = df.to_dict(orient="records")
    for i, row in enumerate(rows):
        row["tenure_months"] = int(row["tenure_months"])
        row["support_tickets"] = int(row["support_tickets"])
        row["customer_id"] = f"demo-{seed}-{i}"
    return rows


def send_churn(base: str, key: str, rows: list[dict[str, Any]], batch: int = 500) -> None:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        for i in range(0, len(rows), batch):
            client.post("/v1/churn/predict/batch", json={"instances": rows[i : i + batch]}).raise_for_status()


def send_llm(base: str, keys: list[str], n: int, model: str, concurrency: int = 8) -> dict[int, int]:
    """Send `n` chat requests (every third one streamed) round-robin over the tenants; count statuses."""

    async def run() -> dict[int, int]:
        statuses: Counter[int] = Counter()
        gate = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:

            async def one(i: int) -> None:
                body = {
                    "model": model,
                    "messages": [{"role": "user", "content": _QUESTIONS[i % len(_QUESTIONS)]}],
                    "max_tokens": 16,
                    "stream": i % 3 == 0,
                }
                async with gate:
                    r = await client.post(
                        "/v1/chat/completions",
                        json=body,
                        headers={"Authorization": f"Bearer {keys[i % len(keys)]}"},
                    )
                    await r.aread()
                    statuses[r.status_code] += 1

            await asyncio.gather(*(one(i) for i in range(n)))
        return dict(sorted(statuses.items()))

    return asyncio.run(run())
