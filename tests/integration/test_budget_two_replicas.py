"""Two gateway processes share one Redis ledger: 200 concurrent requests split across both replicas never
spend more than the tenant's budget, which fits about 50 of them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import yaml

from adapters.vllm.sim.app import create_sim_app
from adapters.vllm.sim.config import SimConfig
from gateway.auth import hash_key
from support.conftest_helpers import ACME_KEY
from support.redis_server import RedisServer
from support.servers import free_port, modelgate_process, uvicorn_thread

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "sim-llama-3-8b"
BUDGET = 1.5


def test_two_replicas_sharing_redis_never_overspend(
    tmp_path: Path, churn_artifact: Path, redis_server: RedisServer
) -> None:
    with uvicorn_thread(create_sim_app(SimConfig(ttft_ms=5, itl_ms=2, tokens=10, seed=9))) as sim_url:
        cfg = tmp_path / "modelgate.yaml"
        cfg.write_text(
            yaml.safe_dump(
                {
                    "data_dir": "data",
                    "churn": {"artifact_dir": str(churn_artifact)},
                    "llm": {
                        "upstream_url": f"{sim_url}/v1",
                        "models": [MODEL],
                        "prices": {MODEL: {"input_per_mtok": 1000.0, "output_per_mtok": 2000.0}},
                    },
                    "budgets": {"backend": "redis", "redis_url": redis_server.url},
                    "tenants": [{"name": "acme", "key_sha256": hash_key(ACME_KEY), "daily_usd": BUDGET}],
                }
            )
        )
        ports = [free_port(), free_port()]
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        serve = ["serve", "--config", str(cfg)]
        with (
            modelgate_process([*serve, "--port", str(ports[0])], ready_url=f"{bases[0]}/readyz"),
            modelgate_process([*serve, "--port", str(ports[1])], ready_url=f"{bases[1]}/readyz"),
        ):

            async def fire() -> list[tuple[int, int]]:
                async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200)) as c:

                    async def one(i: int) -> tuple[int, int]:
                        r = await c.post(
                            f"{bases[i % 2]}/v1/chat/completions",
                            json={
                                "model": MODEL,
                                "messages": [{"role": "user", "content": f"question {i}"}],
                                "max_tokens": 10,
                                "stream": i % 3 == 0,
                            },
                            headers={"Authorization": f"Bearer {ACME_KEY}"},
                        )
                        await r.aread()
                        return i % 2, r.status_code

                    return await asyncio.gather(*(one(i) for i in range(200)))

            results = asyncio.run(fire())
            ok_by_replica = [sum(1 for rep, st in results if rep == k and st == 200) for k in (0, 1)]
            statuses = {st for _, st in results}
            assert statuses <= {200, 429}
            # Both replicas took part: every answer from each is a 200 or a budget refusal. Which replica wins
            # more of the budget is a race; that they share one budget is the point.
            assert all(sum(1 for rep, _ in results if rep == k) == 100 for k in (0, 1))
            assert sum(ok_by_replica) > 0
            assert 30 <= sum(ok_by_replica) <= 75
            views = [
                httpx.get(f"{b}/v1/budget", headers={"Authorization": f"Bearer {ACME_KEY}"}).json()
                for b in bases
            ]
            # both replicas read the same shared ledger
            assert views[0]["day"]["spent_usd"] == pytest.approx(views[1]["day"]["spent_usd"])
            assert 0 < views[0]["day"]["spent_usd"] <= BUDGET
            assert views[0]["day"]["reserved_usd"] == 0
