"""Section 2, llm: the vLLM simulator direct against the same simulator through the gateway.

Non-streaming: wrk POSTs `/v1/chat/completions` (16 tokens, sim at --ttft-ms 0 --itl-ms 0) to the sim
and to the gateway (metrics, SQLite budget ledger with a large daily budget, LLM request log: all on, as
`modelgate init` writes them). Streaming: 32 concurrent streams of 50 tokens 5 ms apart (sim --tokens 50
--itl-ms 5 --ttft-ms 5), time to first content chunk measured by bench/streaming.py.

Targets (from the issue): ≥ 1,300 req/s through the gateway, ≤ 1 ms gateway CPU per request, added TTFT
≤ 5 ms at p50 and ≤ 20 ms at p99. "Added" is the difference of the two runs' percentiles (the runs are
not paired request by request).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.load import LoadOptions, check_post, load_average, measure_http
from bench.procstat import tree_cpu_seconds
from bench.report import heading, say, table, verdict
from bench.servers import Server
from bench.stack import SIM_MODEL, churn_artifact, gateway_config, start_gateway, start_sim
from bench.stats import percentile, ratio
from bench.streaming import StreamLoad
from bench.wrk import write_post_script

__all__ = ["CHAT_BODY", "STREAM_BODY", "measure_streams", "run"]

CHAT_BODY: dict[str, Any] = {
    "model": SIM_MODEL,
    "messages": [{"role": "user", "content": "Say hello to the benchmark."}],
    "max_tokens": 16,
}
STREAM_BODY: dict[str, Any] = {**CHAT_BODY, "max_tokens": 50, "stream": True}


def measure_streams(
    url: str, headers: dict[str, str], *, servers: Sequence[Server], options: LoadOptions
) -> dict[str, Any]:
    """Warm up, then up to `options.max_streams` streams or `options.stream_seconds`; CPU read around it."""

    async def go() -> dict[str, Any]:
        async with StreamLoad(url, STREAM_BODY, headers, concurrency=options.connections) as load:
            await load.run(seconds=options.warmup_s, max_streams=10 * options.connections)
            load_before = load_average()
            before = {s.name: tree_cpu_seconds(s.pid) for s in servers}
            result = await load.run(seconds=options.stream_seconds, max_streams=options.max_streams)
            after = {s.name: tree_cpu_seconds(s.pid) for s in servers}
        done = result.completed
        return {
            "streams": done,
            "errors": result.errors,
            "wall_s": result.wall_s,
            "streams_per_s": done / result.wall_s if result.wall_s else float("nan"),
            "ttft_ms": {
                "p50": percentile(result.ttft_s, 50) * 1e3,
                "p99": percentile(result.ttft_s, 99) * 1e3,
            },
            "duration_ms": {"p50": percentile(result.duration_s, 50) * 1e3},
            "cpu_ms_per_stream": {
                name: (after[name] - before[name]) * 1e3 / done if done else float("nan") for name in before
            },
            "load_average": {"before": load_before, "after": load_average()},
        }

    measured = asyncio.run(go())
    for server in servers:
        server.check_alive()
    return measured


def run(workdir: Path, options: LoadOptions) -> dict[str, Any]:
    print(heading("llm: POST /v1/chat/completions", load_average(), os.cpu_count()), flush=True)
    folder = workdir / "llm"
    folder.mkdir(parents=True, exist_ok=True)
    artifact = churn_artifact(workdir)  # the gateway loads the churn model at start-up either way
    body = json.dumps(CHAT_BODY)
    with ExitStack() as stack:
        sim = stack.enter_context(start_sim("sim", folder, ttft_ms=0, itl_ms=0, tokens=16, wait=False))
        sim_s = stack.enter_context(
            start_sim("sim-stream", folder, ttft_ms=5, itl_ms=5, tokens=50, wait=False)
        )
        config = gateway_config(folder / "gateway", upstream=sim.base_url + "/v1", artifact=artifact)
        config_s = gateway_config(
            folder / "gateway-stream", upstream=sim_s.base_url + "/v1", artifact=artifact
        )
        gw = stack.enter_context(start_gateway("gateway", config, folder, wait=False))
        gw_s = stack.enter_context(start_gateway("gateway-stream", config_s, folder, wait=False))
        for server in (sim, sim_s, gw, gw_s):
            server.wait_ready()
        auth = {"Authorization": f"Bearer {config.api_key}"}
        direct_url, gw_url = sim.base_url + "/v1/chat/completions", gw.base_url + "/v1/chat/completions"
        check_post(direct_url, body, {})
        check_post(gw_url, body, auth)

        say(f"non-streaming direct: {options.warmup_s:.0f} s warm-up + {options.seconds:.0f} s measured")
        direct = measure_http(
            direct_url,
            write_post_script(folder / "direct.lua", body=body, headers={}),
            servers=[sim],
            options=options,
        )
        say(f"non-streaming via gateway: {options.warmup_s:.0f} s warm-up + {options.seconds:.0f} s measured")
        via = measure_http(
            gw_url,
            write_post_script(folder / "gateway.lua", body=body, headers=auth),
            servers=[gw, sim],
            options=options,
        )
        bound = f"≤ {options.stream_seconds:.0f} s or {options.max_streams:,} streams"
        say(f"streaming direct: {options.warmup_s:.0f} s warm-up + {bound}")
        s_direct = measure_streams(
            sim_s.base_url + "/v1/chat/completions", {}, servers=[sim_s], options=options
        )
        say(f"streaming via gateway: {options.warmup_s:.0f} s warm-up + {bound}")
        s_auth = {"Authorization": f"Bearer {config_s.api_key}"}
        s_via = measure_streams(
            gw_s.base_url + "/v1/chat/completions", s_auth, servers=[gw_s, sim_s], options=options
        )

    gw_cpu = via.cpu_ms_per_request("gateway")
    added = {"p50_ms": via.wrk.p50_ms - direct.wrk.p50_ms, "p99_ms": via.wrk.p99_ms - direct.wrk.p99_ms}
    print(
        table(
            ["non-streaming", "req/s", "p50 ms", "p99 ms", "gateway CPU ms/req", "sim CPU ms/req", "errors"],
            [
                [
                    "direct to vllm-sim",
                    direct.wrk.ok_rps,
                    direct.wrk.p50_ms,
                    direct.wrk.p99_ms,
                    None,
                    direct.cpu_ms_per_request("sim"),
                    direct.wrk.errors,
                ],
                [
                    "through modelgate",
                    via.wrk.ok_rps,
                    via.wrk.p50_ms,
                    via.wrk.p99_ms,
                    gw_cpu,
                    via.cpu_ms_per_request("sim"),
                    via.wrk.errors,
                ],
            ],
            digits=2,
        )
    )
    rps_ratio = ratio(via.wrk.ok_rps, direct.wrk.ok_rps)
    print(
        f"gateway / direct throughput {rps_ratio:.2f}x; added latency p50 {added['p50_ms']:+.2f} ms, "
        f"p99 {added['p99_ms']:+.2f} ms"
    )
    ttft_added = {
        "p50_ms": s_via["ttft_ms"]["p50"] - s_direct["ttft_ms"]["p50"],
        "p99_ms": s_via["ttft_ms"]["p99"] - s_direct["ttft_ms"]["p99"],
    }

    def stream_row(name: str, m: dict[str, Any]) -> list[Any]:
        cpu = m["cpu_ms_per_stream"]
        return [
            name,
            m["streams"],
            m["streams_per_s"],
            m["ttft_ms"]["p50"],
            m["ttft_ms"]["p99"],
            m["duration_ms"]["p50"],
            cpu.get("gateway-stream"),
            cpu["sim-stream"],
            sum(m["errors"].values()),
        ]

    print()
    print(
        table(
            [
                "streaming (50 tokens)",
                "streams",
                "streams/s",
                "TTFT p50 ms",
                "TTFT p99 ms",
                "stream p50 ms",
                "gateway CPU ms/stream",
                "sim CPU ms/stream",
                "errors",
            ],
            [stream_row("direct to vllm-sim", s_direct), stream_row("through modelgate", s_via)],
            digits=2,
        )
    )
    print(f"added TTFT: p50 {ttft_added['p50_ms']:+.2f} ms, p99 {ttft_added['p99_ms']:+.2f} ms")
    targets = {
        "gateway_ge_1300_rps": via.wrk.ok_rps >= 1300,
        "gateway_cpu_le_1ms": gw_cpu <= 1.0,
        "added_ttft_p50_le_5ms": ttft_added["p50_ms"] <= 5,
        "added_ttft_p99_le_20ms": ttft_added["p99_ms"] <= 20,
    }
    print(
        f"targets: ≥ 1,300 req/s via gateway: {verdict(targets['gateway_ge_1300_rps'])} "
        f"({via.wrk.ok_rps:,.0f}); "
        f"≤ 1 ms gateway CPU/request: {verdict(targets['gateway_cpu_le_1ms'])} ({gw_cpu:.2f} ms); "
        f"added TTFT p50 ≤ 5 ms: {verdict(targets['added_ttft_p50_le_5ms'])}; "
        f"p99 ≤ 20 ms: {verdict(targets['added_ttft_p99_le_20ms'])}"
    )
    return {
        "non_streaming": {
            "direct": direct.as_dict(),
            "gateway": via.as_dict(),
            "ratio_gateway_over_direct_rps": rps_ratio,
            "added_latency_ms": added,
        },
        "streaming": {"direct": s_direct, "gateway": s_via, "added_ttft_ms": ttft_added},
        "targets_met": targets,
    }
