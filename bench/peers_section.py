"""Section peers: modelgate, Portkey and the LiteLLM proxy in front of the same fast upstream, one run.

Targets, measured in alternating rounds (every target once per round, in the same order, so a load
spike on the shared machine lands on all of them rather than on one):

- `direct`: the vLLM simulator itself, the baseline "added" figures are taken against;
- `byte-proxy`: bench/byte_proxy.py in front of the same simulators, forwarding bytes and nothing else:
  what the two extra loopback hops of any proxy cost on this machine, the floor under every gateway's
  added figures (not a peer: no ratio is taken against it);
- `modelgate`: `modelgate serve` as `init` writes it (metrics, prediction and LLM request logs, SQLite
  budget ledger: all on; tracing off);
- `portkey`, `litellm`: bench/peers.py (installed by `make bench-deps`). A peer that is not installed or
  fails to start is reported in the table and the results file with the reason; it is never dropped.

Figures: non-streaming req/s and gateway CPU ms/request at `--connections` (wrk; the simulator at
--ttft-ms 0 --itl-ms 0, 16 tokens); TTFT added over direct one stream at a time (p50) and at
`--connections` streams (p99; simulator 50 tokens, 5 ms TTFT, 5 ms apart). Each figure is printed with
its ratio to the best peer's. Samples are pooled over the rounds (requests and CPU summed; TTFT samples
concatenated) before the percentiles are taken.

Targets (issue 18): non-streaming ≥ 3× Portkey's req/s; TTFT added one at a time ≤ 0.5 ms p50;
at 32 streams ≤ 15 ms p99.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.llm_section import CHAT_BODY, STREAM_BODY
from bench.load import HttpMeasurement, LoadOptions, check_post, load_average, measure_http
from bench.peers import PEERS, Peer, PeerTarget, find_peers, start_peer
from bench.procstat import tree_cpu_seconds
from bench.report import Cell, heading, say, table, verdict
from bench.servers import Server
from bench.stack import (
    SIM_MODEL,
    churn_artifact,
    gateway_config,
    start_byte_proxy,
    start_gateway,
    start_sim,
)
from bench.stats import percentile, ratio
from bench.streaming import StreamLoad, StreamRun
from bench.wrk import write_post_script

__all__ = [
    "FLOOR",
    "Target",
    "best_peer",
    "over_floor",
    "pool_http",
    "pool_streams",
    "run",
    "stream_window",
    "versus_best",
]

FLOOR = "byte-proxy"
TARGET_ORDER = ("direct", FLOOR, "modelgate", *PEERS)
DEFAULT_ROUNDS = 2


@dataclass
class Target:
    """One thing measured: where to send a request for each upstream, and whose CPU to charge."""

    name: str
    url_for: dict[str, str]  # upstream base URL -> chat completions URL
    headers_for: dict[str, dict[str, str]]
    model_for: dict[str, str]
    server: Server | None  # the gateway process (None for direct: the sim's CPU is the sim's)
    problem: str | None = None  # why it was not measured (not installed, failed to start, failed a check)
    http: list[HttpMeasurement] = field(default_factory=list)
    streams32: list[tuple[StreamRun, float]] = field(default_factory=list)  # (run, gateway CPU s)
    streams1: list[tuple[StreamRun, float]] = field(default_factory=list)


def pool_http(rounds: Sequence[HttpMeasurement], server: str | None) -> dict[str, float]:
    """Rounds pooled: ok requests over total seconds, CPU over ok requests; p50/p99 the rounds' mean.

    `cores`: the server's CPU seconds per second of load. A single event loop cannot pass 1.0 (the GIL);
    a server with helper threads or processes can, so throughput and CPU per request part ways there."""
    if not rounds:
        return {
            "rps": math.nan,
            "cpu_ms": math.nan,
            "p50_ms": math.nan,
            "p99_ms": math.nan,
            "cores": math.nan,
        }
    ok = sum(m.wrk.requests - m.wrk.non_2xx for m in rounds)
    seconds = sum(m.wrk.duration_s for m in rounds)
    cpu = sum(m.cpu_s.get(server, math.nan) for m in rounds) if server else math.nan
    return {
        "rps": ok / seconds if seconds else math.nan,
        "cpu_ms": cpu * 1e3 / ok if ok else math.nan,
        "p50_ms": sum(m.wrk.p50_ms for m in rounds) / len(rounds),
        "p99_ms": sum(m.wrk.p99_ms for m in rounds) / len(rounds),
        "errors": float(sum(m.wrk.errors for m in rounds)),
        "cores": cpu / seconds if seconds else math.nan,
    }


def pool_streams(rounds: Sequence[tuple[StreamRun, float]]) -> dict[str, float]:
    """TTFT samples of every round together; gateway CPU per completed stream."""
    ttft = [t for run, _ in rounds for t in run.ttft_s]
    done = sum(run.completed for run, _ in rounds)
    cpu = sum(c for _, c in rounds)
    return {
        "streams": float(done),
        "errors": float(sum(sum(run.errors.values()) for run, _ in rounds)),
        "ttft_p50_ms": percentile(ttft, 50) * 1e3,
        "ttft_p99_ms": percentile(ttft, 99) * 1e3,
        "cpu_ms_per_stream": cpu * 1e3 / done if done else math.nan,
    }


def best_peer(figures: Mapping[str, float], *, higher_is_better: bool) -> tuple[str | None, float]:
    """The best peer's name and figure among PEERS that have a figure (NaN ones were not measured)."""
    measured = {n: v for n, v in figures.items() if n in PEERS and not math.isnan(v)}
    if not measured:
        return None, math.nan
    name = (max if higher_is_better else min)(measured, key=measured.__getitem__)
    return name, measured[name]


def versus_best(figures: Mapping[str, float], *, higher_is_better: bool) -> dict[str, float]:
    """Each target's figure divided by the best peer's (for "lower is better" figures < 1 is ahead)."""
    _, best = best_peer(figures, higher_is_better=higher_is_better)
    return {name: ratio(value, best) for name, value in figures.items()}


def over_floor(figures: Mapping[str, Mapping[str, float]], name: str = "modelgate") -> dict[str, float]:
    """`name`'s added TTFT figures less the byte proxy's: the part of each that is the gateway's own work."""
    return {
        key: figures[key].get(name, math.nan) - figures[key].get(FLOOR, math.nan)
        for key in ("ttft1_added_p50_ms", "ttft32_added_p99_ms")
    }


def stream_window(
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    *,
    concurrency: int,
    seconds: float,
    max_streams: int,
    warmup_s: float,
    server: Server | None,
) -> tuple[StreamRun, float]:
    async def go() -> tuple[StreamRun, float]:
        async with StreamLoad(url, body, headers, concurrency=concurrency) as load:
            if warmup_s > 0:
                await load.run(seconds=warmup_s, max_streams=10 * concurrency)
            before = tree_cpu_seconds(server.pid) if server else 0.0
            result = await load.run(seconds=seconds, max_streams=max_streams)
            after = tree_cpu_seconds(server.pid) if server else 0.0
        return result, after - before

    return asyncio.run(go())


def _peer_target(peer: Peer, folder: Path, upstreams: dict[str, str], stack: ExitStack) -> Target:
    """A Target for `peer` (started on `stack`), or one carrying the reason it cannot be measured."""
    if peer.missing is not None:
        return Target(peer.name, {}, {}, {}, None, problem=peer.missing)
    try:
        running: PeerTarget = stack.enter_context(
            start_peer(peer, folder, upstreams=upstreams, model=SIM_MODEL, wait=True)
        )
    except Exception as exc:  # a peer that will not start is a figure to report, not a crash
        return Target(
            peer.name, {}, {}, {}, None, problem=f"did not start: {type(exc).__name__}: {exc}"[:600]
        )
    bases = list(upstreams.values())
    return Target(
        peer.name,
        dict.fromkeys(bases, running.url),
        dict(running.headers_for),
        dict(running.model_for),
        running.server,
    )


def run(workdir: Path, options: LoadOptions, rounds: int = DEFAULT_ROUNDS) -> dict[str, Any]:
    print(heading("peers: modelgate, Portkey, LiteLLM, same upstream", load_average(), os.cpu_count()))
    folder = workdir / "peers"
    folder.mkdir(parents=True, exist_ok=True)
    artifact = churn_artifact(workdir)
    peers = find_peers()
    with ExitStack() as stack:
        sim = stack.enter_context(start_sim("sim", folder, ttft_ms=0, itl_ms=0, tokens=16, wait=False))
        sim_s = stack.enter_context(
            start_sim("sim-stream", folder, ttft_ms=5, itl_ms=5, tokens=50, wait=False)
        )
        fast, slow = sim.base_url + "/v1", sim_s.base_url + "/v1"
        cfg = gateway_config(folder / "gateway", upstream=fast, artifact=artifact)
        cfg_s = gateway_config(folder / "gateway-stream", upstream=slow, artifact=artifact)
        gw = stack.enter_context(start_gateway("modelgate", cfg, folder, wait=False))
        gw_s = stack.enter_context(start_gateway("modelgate-stream", cfg_s, folder, wait=False))
        for server in (sim, sim_s, gw, gw_s):
            server.wait_ready()
        floor = stack.enter_context(start_byte_proxy(FLOOR, sim, folder))
        floor_s = stack.enter_context(start_byte_proxy(f"{FLOOR}-stream", sim_s, folder))
        chat = "/chat/completions"
        targets = [
            Target(
                "direct",
                {fast: fast + chat, slow: slow + chat},
                {fast: {}, slow: {}},
                {fast: SIM_MODEL, slow: SIM_MODEL},
                None,
            ),
            Target(
                FLOOR,
                {fast: floor.base_url + "/v1" + chat, slow: floor_s.base_url + "/v1" + chat},
                {fast: {}, slow: {}},
                {fast: SIM_MODEL, slow: SIM_MODEL},
                floor,
            ),
            Target(
                "modelgate",
                {fast: gw.base_url + "/v1" + chat, slow: gw_s.base_url + "/v1" + chat},
                {
                    fast: {"Authorization": f"Bearer {cfg.api_key}"},
                    slow: {"Authorization": f"Bearer {cfg_s.api_key}"},
                },
                {fast: SIM_MODEL, slow: SIM_MODEL},
                gw,
            ),
        ]
        stream_servers: dict[str, Server | None] = {"modelgate": gw_s, FLOOR: floor_s}
        for name in PEERS:
            say(f"starting {name}")
            targets.append(_peer_target(peers[name], folder, {"fast": fast, "stream": slow}, stack))
        for t in targets:
            if t.problem is None:
                try:
                    body = json.dumps(_with_model(CHAT_BODY, t.model_for[fast]))
                    check_post(t.url_for[fast], body, t.headers_for[fast])
                except Exception as exc:
                    t.problem = f"check request failed: {exc}"[:600]
            if t.problem is not None:
                say(f"{t.name}: NOT measured: {t.problem}")
        live = [t for t in targets if t.problem is None]
        sims = {"direct": sim}

        for r in range(rounds):
            opts = options if r == 0 else replace(options, warmup_s=min(options.warmup_s, 1.0))
            for t in live:
                say(f"round {r + 1}/{rounds} non-streaming {t.name}")
                body = json.dumps(_with_model(CHAT_BODY, t.model_for[fast]))
                script = write_post_script(folder / f"{t.name}.lua", body=body, headers=t.headers_for[fast])
                watched = [s for s in (t.server, sims.get(t.name)) if s is not None]
                t.http.append(measure_http(t.url_for[fast], script, servers=watched, options=opts))
        per_round = options.stream_seconds / rounds
        for r in range(rounds):
            for t in live:
                gateway = stream_servers.get(t.name, t.server)
                stream_body = _with_model(STREAM_BODY, t.model_for[slow])
                say(f"round {r + 1}/{rounds} streaming x{options.connections} {t.name}")
                t.streams32.append(
                    stream_window(
                        t.url_for[slow],
                        stream_body,
                        t.headers_for[slow],
                        concurrency=options.connections,
                        seconds=per_round,
                        max_streams=options.max_streams // rounds,
                        warmup_s=options.warmup_s if r == 0 else 1.0,
                        server=gateway,
                    )
                )
                say(f"round {r + 1}/{rounds} streaming x1 {t.name}")
                t.streams1.append(
                    stream_window(
                        t.url_for[slow],
                        stream_body,
                        t.headers_for[slow],
                        concurrency=1,
                        seconds=per_round,
                        max_streams=options.max_streams // rounds,
                        warmup_s=1.0 if r == 0 else 0.0,
                        server=gateway,
                    )
                )
        for s in (sim, sim_s, gw, gw_s, floor, floor_s):
            s.check_alive()
    return _report(targets, rounds, options.connections)


def _with_model(template: dict[str, Any], model: str) -> dict[str, Any]:
    return {**template, "model": model}  # LiteLLM routes on its own model names, one per upstream


def _report(targets: Sequence[Target], rounds: int, connections: int) -> dict[str, Any]:
    http = {t.name: pool_http(t.http, t.server.name if t.server else None) for t in targets}
    s32 = {t.name: pool_streams(t.streams32) for t in targets}
    s1 = {t.name: pool_streams(t.streams1) for t in targets}
    nan = math.nan

    def added(pooled: dict[str, dict[str, float]], key: str) -> dict[str, float]:
        base = pooled.get("direct", {}).get(key, nan)
        return {n: (v.get(key, nan) - base if n != "direct" else nan) for n, v in pooled.items()}

    figures = {
        "rps": {n: v["rps"] for n, v in http.items()},
        "cpu_ms": {n: v["cpu_ms"] for n, v in http.items()},
        "ttft1_added_p50_ms": added(s1, "ttft_p50_ms"),
        "ttft32_added_p99_ms": added(s32, "ttft_p99_ms"),
    }
    higher = {"rps": True, "cpu_ms": False, "ttft1_added_p50_ms": False, "ttft32_added_p99_ms": False}
    ratios = {k: versus_best(v, higher_is_better=higher[k]) for k, v in figures.items()}
    best = {k: best_peer(v, higher_is_better=higher[k])[0] for k, v in figures.items()}

    rows: list[list[Cell]] = []
    for t in targets:
        n = t.name
        if t.problem is not None:
            rows.append([n, None, None, None, None, None, None, None, None, "NOT measured (below)"])
            continue
        rows.append(
            [
                n,
                figures["rps"][n],
                ratios["rps"][n],
                figures["cpu_ms"][n],
                ratios["cpu_ms"][n],
                figures["ttft1_added_p50_ms"][n],
                ratios["ttft1_added_p50_ms"][n],
                figures["ttft32_added_p99_ms"][n],
                ratios["ttft32_added_p99_ms"][n],
                f"{int(http[n]['errors'] + s32[n]['errors'] + s1[n]['errors'])} errors",
            ]
        )
    print()
    print(
        table(
            [
                "target",
                "req/s",
                "x best",
                "CPU ms/req",
                "x best",
                "TTFT+ x1 p50",
                "x best",
                f"TTFT+ x{connections} p99",
                "x best",
                "note",
            ],
            rows,
            digits=2,
        )
    )
    for t in targets:
        if t.problem is not None:
            print(f"{t.name} NOT measured: {t.problem}")
    named = ", ".join(f"{k} {v or '-'}" for k, v in best.items())
    print(
        f"x best: the figure over the best peer's ({named}); for CPU and TTFT below 1 is ahead. "
        f"TTFT+ is over direct, in ms; {rounds} alternating rounds pooled."
    )
    detail: list[list[Cell]] = [
        [
            t.name,
            s1[t.name]["ttft_p50_ms"],
            s1[t.name]["streams"],
            s32[t.name]["ttft_p50_ms"],
            s32[t.name]["ttft_p99_ms"],
            s32[t.name]["streams"],
            s32[t.name]["cpu_ms_per_stream"],
            http[t.name]["p50_ms"],
            http[t.name]["p99_ms"],
            http[t.name]["cores"],
        ]
        for t in targets
        if t.problem is None
    ]
    print()
    print(
        table(
            [
                "target",
                "TTFT x1 p50",
                "streams x1",
                f"TTFT x{connections} p50",
                f"TTFT x{connections} p99",
                f"streams x{connections}",
                "CPU ms/stream",
                "wrk p50 ms",
                "wrk p99 ms",
                "cores busy",
            ],
            detail,
            digits=2,
        )
    )
    portkey_rps = figures["rps"].get("portkey", nan)
    mg = figures["rps"]["modelgate"]
    ahead_of_portkey = None if math.isnan(portkey_rps) else mg >= 3 * portkey_rps
    ttft1_ok = figures["ttft1_added_p50_ms"]["modelgate"] <= 0.5
    ttft32_ok = figures["ttft32_added_p99_ms"]["modelgate"] <= 15
    targets_met = {
        "rps_ge_3x_portkey": ahead_of_portkey,
        "ttft1_added_p50_le_0_5ms": ttft1_ok,
        "ttft32_added_p99_le_15ms": ttft32_ok,
    }
    print(
        "targets: req/s ≥ 3x Portkey: "
        f"{'Portkey not measured' if ahead_of_portkey is None else verdict(ahead_of_portkey)}"
        f" ({ratio(mg, portkey_rps):.2f}x); TTFT added x1 p50 ≤ 0.5 ms: {verdict(ttft1_ok)}; "
        f"x{connections} p99 ≤ 15 ms: {verdict(ttft32_ok)}"
    )
    own = over_floor(figures)
    if not math.isnan(figures["ttft1_added_p50_ms"].get(FLOOR, nan)):
        print(
            f"{FLOOR} (bytes forwarded, nothing parsed) adds TTFT x1 p50 "
            f"{figures['ttft1_added_p50_ms'][FLOOR]:+.2f} ms, x{connections} p99 "
            f"{figures['ttft32_added_p99_ms'][FLOOR]:+.2f} ms: the hop any proxy pays here. modelgate over "
            f"it: x1 p50 {own['ttft1_added_p50_ms']:+.2f} ms, x{connections} p99 "
            f"{own['ttft32_added_p99_ms']:+.2f} ms"
        )
    return {
        "rounds": rounds,
        "not_measured": {t.name: t.problem for t in targets if t.problem is not None},
        "figures": figures,
        "ratio_to_best_peer": ratios,
        "best_peer": best,
        "non_streaming": {t.name: [m.as_dict() for m in t.http] for t in targets},
        "pooled": {"non_streaming": http, "streams_concurrent": s32, "streams_one_at_a_time": s1},
        "targets_met": targets_met,
        "modelgate_over_floor_ms": own,
        "load_average_end": load_average(),
    }
