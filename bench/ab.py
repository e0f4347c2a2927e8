"""Two revisions of the gateway side by side in one run: how much one change gained, on this noisy machine.

    python -m bench.ab --a main --b HEAD [--lane llm|churn|stream] [--rounds 3] [--seconds 8] [--tracing]

Each revision is exported with `git archive` into the work folder and served from there (`modelgate
serve`, started from that tree, so its own `gateway` package runs), both with the same config against
one simulator. The rounds alternate A, B, A, B…, so a load spike from other work lands on both; figures
are pooled over the rounds (requests and CPU summed). Lanes: `llm` non-streaming chat completions and
`churn` predictions (wrk, `--connections`), `stream` TTFT one stream at a time and at `--connections`
(sim 50 tokens, 5 ms apart). `--tracing` turns tracing on at sample 1.0 for both, to bench/otlp_sink.py.
Prints one table; exit 0, or 2 on a bad revision.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.churn_section import CUSTOMER
from bench.llm_section import CHAT_BODY, STREAM_BODY
from bench.load import HttpMeasurement, LoadOptions, check_post, load_average, measure_http
from bench.peers_section import pool_http, pool_streams
from bench.procstat import tree_cpu_seconds
from bench.report import Cell, table
from bench.servers import REPO, Server
from bench.stack import churn_artifact, gateway_config, start_gateway, start_sim, start_trace_backend
from bench.stats import ratio
from bench.streaming import StreamLoad, StreamRun
from bench.wrk import write_post_script

__all__ = ["export_tree", "main"]


def export_tree(rev: str, into: Path) -> Path:
    """`git archive rev` unpacked into `into/<rev>`; the commit id it resolved to is in `into/<rev>/.rev`."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    tree = into / commit[:12]
    if not tree.is_dir():
        archive = subprocess.run(["git", "archive", commit], cwd=REPO, capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tree, filter="data")
        (tree / ".rev").write_text(commit, encoding="utf-8")
    return tree


def _streams(url: str, headers: dict[str, str], concurrency: int, seconds: float, server: Server) -> Any:
    async def go() -> tuple[StreamRun, float]:
        async with StreamLoad(url, STREAM_BODY, headers, concurrency=concurrency) as load:
            await load.run(seconds=1.0, max_streams=2 * concurrency)
            before = tree_cpu_seconds(server.pid)
            result = await load.run(seconds=seconds, max_streams=100_000)
            return result, tree_cpu_seconds(server.pid) - before

    return asyncio.run(go())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.splitlines()[0])
    p.add_argument("--a", default="main", help="baseline revision (default main)")
    p.add_argument("--b", default="HEAD", help="revision measured against it (default HEAD)")
    p.add_argument("--lane", choices=("llm", "churn", "stream"), default="llm")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--tracing", action="store_true", help="tracing on at sample 1.0 for both")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="modelgate-ab-"))
    try:
        trees = {"A": export_tree(args.a, work), "B": export_tree(args.b, work)}
    except subprocess.CalledProcessError as exc:
        print(f"python -m bench.ab: {exc.stderr.strip() if exc.stderr else exc}", file=sys.stderr)
        return 2
    options = LoadOptions(seconds=args.seconds, warmup_s=2.0, connections=args.connections)
    artifact = churn_artifact(work)
    stream = args.lane == "stream"
    with ExitStack() as stack:
        sim = stack.enter_context(
            start_sim("sim", work, ttft_ms=5 if stream else 0, itl_ms=5 if stream else 0,
                      tokens=50 if stream else 16)
        )  # fmt: skip
        endpoint = None
        if args.tracing:
            endpoint = stack.enter_context(start_trace_backend(work)).endpoint
        gws: dict[str, tuple[Server, dict[str, str]]] = {}
        for name, tree in trees.items():
            cfg = gateway_config(
                work / f"gw-{name}",
                upstream=sim.base_url + "/v1",
                artifact=artifact,
                tracing_endpoint=endpoint,
            )
            server = stack.enter_context(start_gateway(f"gateway-{name}", cfg, work, tree=tree))
            gws[name] = (server, {"Authorization": f"Bearer {cfg.api_key}"})
        path, body = (
            ("/v1/churn/predict", json.dumps(CUSTOMER))
            if args.lane == "churn"
            else ("/v1/chat/completions", json.dumps(CHAT_BODY))
        )
        http: dict[str, list[HttpMeasurement]] = {"A": [], "B": []}
        s1: dict[str, list[tuple[StreamRun, float]]] = {"A": [], "B": []}
        s32: dict[str, list[tuple[StreamRun, float]]] = {"A": [], "B": []}
        for server, auth in gws.values():
            check_post(server.base_url + path, body, auth)
        for r in range(args.rounds):
            opts = options if r == 0 else replace(options, warmup_s=1.0)
            for name, (server, auth) in gws.items():
                url = server.base_url + path
                print(f"[ab] round {r + 1}/{args.rounds} {name} {args.lane}", file=sys.stderr, flush=True)
                if stream:
                    s1[name].append(_streams(url, auth, 1, args.seconds, server))
                    s32[name].append(_streams(url, auth, args.connections, args.seconds, server))
                else:
                    script = write_post_script(work / f"{name}.lua", body=body, headers=auth)
                    http[name].append(measure_http(url, script, servers=[server], options=opts))
    label = {
        n: f"{n} {args.a if n == 'A' else args.b} ({(t / '.rev').read_text()[:10]})" for n, t in trees.items()
    }
    print(f"\nbench.ab lane {args.lane}{' +tracing' if args.tracing else ''}, {args.rounds} rounds, "
          f"load average {load_average():.1f}")  # fmt: skip
    if stream:
        pooled = {n: (pool_streams(s1[n]), pool_streams(s32[n])) for n in trees}
        srows: list[list[Cell]] = [
            [label[n], one["ttft_p50_ms"], one["ttft_p99_ms"], many["ttft_p50_ms"], many["ttft_p99_ms"],
             many["cpu_ms_per_stream"]] for n, (one, many) in pooled.items()
        ]  # fmt: skip
        print(table(["revision", "TTFT x1 p50", "x1 p99", f"x{args.connections} p50",
                     f"x{args.connections} p99", "CPU ms/stream"], srows, digits=2))  # fmt: skip
        return 0
    got = {n: pool_http(http[n], f"gateway-{n}") for n in trees}
    rows: list[list[Cell]] = [
        [label[n], g["rps"], g["cpu_ms"], g["p50_ms"], g["p99_ms"]] for n, g in got.items()
    ]
    print(table(["revision", "req/s", "CPU ms/req", "p50 ms", "p99 ms"], rows, digits=3))
    print(
        f"B/A: req/s {ratio(got['B']['rps'], got['A']['rps']):.3f}x, "
        f"CPU/req {ratio(got['B']['cpu_ms'], got['A']['cpu_ms']):.3f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
