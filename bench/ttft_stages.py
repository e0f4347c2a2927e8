"""Where one stream's added TTFT goes: the gateway stamped at each stage, one stream at a time.

    python -m bench.ttft_stages [--streams 200] [--json FILE]

Starts the streaming simulator (5 ms TTFT, 5 ms apart, 50 tokens), `modelgate serve` as `init` writes
it, but with a wall-clock stamp at each stage of a chat stream (below), and bench/byte_proxy.py; runs
`--streams` streams one at a time through each of direct, the byte proxy and the gateway, alternating in
rounds; then prints each stage's median time since the request's bytes arrived, and how much slower the
same Python work runs after the machine idled a while (the penalty every stage pays one stream at a time).

The stamps wrap, in the gateway's own process, the functions the stages end in:

| stage | ends when |
|---|---|
| `routed` | `HotRoutes` is called (uvicorn parsed the head and the middleware ran) |
| `authenticated` | the tenant's key is checked (`tenant_of`) |
| `body_read` | `Request.body` returns |
| `parsed` | `parse_llm_request` returns |
| `reserved` | the ledger's hold is in (`SqliteLedger.reserve`) |
| `admitted` | `Admission.admit` returns (concurrency, rate limits, the span) |
| `upstream_sent` | the request is written to the upstream (`Connection.send`) |
| `first_token_in` | the upstream's first read with content arrives (`Connection.data_received`) |
| `first_token_out` | that content is written to the client (`HeadCoalescingTransport.write`) |

A stage renamed in the gateway makes the stamped server fail to start (AttributeError in its log), not
report nothing: tests/bench/test_ttft_stages.py runs this end to end.
"""

from __future__ import annotations

import argparse
import atexit
import inspect
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

__all__ = ["STAGES", "idle_penalty", "main", "stage_medians"]

STAGES = (
    "routed",
    "authenticated",
    "body_read",
    "parsed",
    "reserved",
    "admitted",
    "upstream_sent",
    "first_token_in",
    "first_token_out",
)
STAMPS_ENV = "MODELGATE_BENCH_STAMPS"  # where the stamped server writes its stamps at exit


def _install_stamps(out: Path) -> None:
    """Wrap the stages' functions so each request's first pass through them is stamped."""
    from starlette import requests as starlette_requests
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from adapters.vllm import http1
    from gateway import hot_routes, response_writes
    from gateway.budget import sqlite_store
    from gateway.llm import admission, routes

    clock = time.perf_counter
    current: dict[str, float] = {}
    done: list[dict[str, float]] = []

    def stamp(stage: str) -> None:
        if "received" in current and stage not in current:
            current[stage] = clock()

    def after(owner: Any, name: str, stage: str) -> None:
        original = getattr(owner, name)  # AttributeError: the stage was renamed; say so at start-up
        if inspect.iscoroutinefunction(original):

            async def stamped_async(*args: Any, **kwargs: Any) -> Any:
                result = await original(*args, **kwargs)
                stamp(stage)
                return result

            setattr(owner, name, stamped_async)
        else:

            def stamped(*args: Any, **kwargs: Any) -> Any:
                result = original(*args, **kwargs)
                stamp(stage)
                return result

            setattr(owner, name, stamped)

    received = HttpToolsProtocol.data_received

    def data_received(self: HttpToolsProtocol, data: bytes) -> None:
        if data.startswith(b"POST "):
            current.clear()
            current["received"] = clock()
        received(self, data)

    HttpToolsProtocol.data_received = data_received  # type: ignore[method-assign]

    hot_call = hot_routes.HotRoutes.__call__

    async def routed(self: Any, scope: Any, receive: Any, send: Any) -> None:
        stamp("routed")
        await hot_call(self, scope, receive, send)

    hot_routes.HotRoutes.__call__ = routed  # type: ignore[method-assign]
    after(routes, "tenant_of", "authenticated")
    after(starlette_requests.Request, "body", "body_read")
    after(routes, "parse_llm_request", "parsed")
    after(sqlite_store.SqliteLedger, "reserve", "reserved")
    after(admission.Admission, "admit", "admitted")
    after(http1.Connection, "send", "upstream_sent")

    upstream_data = http1.Connection.data_received

    def upstream_received(self: Any, data: bytes) -> None:
        if "upstream_sent" in current and b'"content"' in data:
            stamp("first_token_in")
        upstream_data(self, data)

    http1.Connection.data_received = upstream_received  # type: ignore[method-assign]

    client_write = response_writes.HeadCoalescingTransport.write

    def write(self: Any, data: Any) -> None:
        if "first_token_in" in current and "first_token_out" not in current and b'"content"' in data:
            stamp("first_token_out")
            start = current["received"]
            done.append({k: (v - start) * 1e3 for k, v in current.items() if k != "received"})
        client_write(self, data)

    response_writes.HeadCoalescingTransport.write = write  # type: ignore[method-assign]
    atexit.register(lambda: out.write_text(json.dumps(done), encoding="utf-8"))


def _serve_stamped(argv: Sequence[str]) -> int:
    """`modelgate serve` with the stamps installed (run by `main` as the gateway's process)."""
    import signal

    _install_stamps(Path(os.environ[STAMPS_ENV]))
    from gateway.cli import main as gateway_main

    # uvicorn shuts down on SIGTERM, then raises the signal again under the handler it found; as a
    # KeyboardInterrupt (not the default handler's abrupt end) it still lets atexit write the stamps.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    return gateway_main(["serve", *argv])


def stage_medians(rows: Sequence[dict[str, float]], skip: int = 5) -> dict[str, float]:
    """Each stage's median ms since the request arrived, over the streams that reached every stage,
    leaving out the first `skip` (the server's warm-up)."""
    complete = [r for r in rows if all(s in r for s in STAGES)][skip:]
    if not complete:
        return {}
    return {s: statistics.median(r[s] for r in complete) for s in STAGES}


def idle_penalty(idle_s: Sequence[float] = (0.0005, 0.25), rounds: int = 30) -> dict[float, float]:
    """Median µs of one fixed piece of Python work (JSON and a hash) after sleeping each of `idle_s`."""
    import hashlib

    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hello"}], "stream": True})

    def work() -> None:
        for _ in range(20):
            hashlib.sha256(json.dumps(json.loads(body)).encode()).hexdigest()

    out: dict[float, float] = {}
    for idle in idle_s:
        times = []
        for _ in range(rounds):
            time.sleep(idle)
            start = time.perf_counter()
            work()
            times.append(time.perf_counter() - start)
        out[idle] = statistics.median(times[3:]) * 1e6
    return out


def _ttft_samples(url: str, headers: dict[str, str], streams: int) -> list[float]:
    from bench.llm_section import STREAM_BODY
    from bench.peers_section import stream_window

    run, _ = stream_window(
        url, STREAM_BODY, headers, concurrency=1, seconds=600, max_streams=streams, warmup_s=1.0, server=None
    )
    if run.errors:
        raise RuntimeError(f"streams through {url} failed: {run.errors}")
    return run.ttft_s


def _measure(streams: int, rounds: int) -> tuple[dict[str, list[float]], list[dict[str, float]]]:
    """TTFT samples per target, and the stamped gateway's stage rows (servers stopped on the way out)."""
    import tempfile

    from bench.report import say
    from bench.servers import Server, child_env, free_port, python_cmd
    from bench.stack import churn_artifact, gateway_config, start_byte_proxy, start_sim

    work = Path(tempfile.mkdtemp(prefix="modelgate-ttft-stages-"))
    stamps = work / "stamps.json"
    per_round = max(1, streams // rounds)
    samples: dict[str, list[float]] = {"direct": [], "byte-proxy": [], "modelgate": []}
    with ExitStack() as stack:
        sim = stack.enter_context(start_sim("sim-stream", work, ttft_ms=5, itl_ms=5, tokens=50))
        cfg = gateway_config(work / "gateway", upstream=sim.base_url + "/v1", artifact=churn_artifact(work))
        port = free_port()
        cmd = python_cmd("-m", "bench.ttft_stages", "serve-stamped", "--config", str(cfg.path))
        cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        gateway = stack.enter_context(
            Server.start(
                "modelgate-stamped", cmd, port=port, health_path="/readyz", log_dir=work,
                env=child_env({STAMPS_ENV: str(stamps)}),
            )
        )  # fmt: skip
        proxy = stack.enter_context(start_byte_proxy("byte-proxy", sim, work))
        chat = "/v1/chat/completions"
        targets: dict[str, tuple[str, dict[str, str]]] = {
            "direct": (sim.base_url + chat, {}),
            "byte-proxy": (proxy.base_url + chat, {}),
            "modelgate": (gateway.base_url + chat, {"Authorization": f"Bearer {cfg.api_key}"}),
        }
        for r in range(rounds):
            for name, (url, headers) in targets.items():
                say(f"round {r + 1}/{rounds}: {per_round} streams one at a time, {name}")
                samples[name] += _ttft_samples(url, headers, per_round)
        gateway.stop()  # SIGTERM: the stamped server writes its stamps as it exits
    rows: list[dict[str, float]] = json.loads(stamps.read_text(encoding="utf-8"))
    return samples, rows


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["serve-stamped"]:
        return _serve_stamped(args_in[1:])
    p = argparse.ArgumentParser(prog="python -m bench.ttft_stages", description=__doc__.split("\n\n")[0])
    p.add_argument("--streams", type=int, default=200, help="streams per target (default 200)")
    p.add_argument("--rounds", type=int, default=4, help="alternating rounds (default 4)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(args_in)
    if args.streams < 10 or args.rounds < 1:
        p.error("--streams must be at least 10 and --rounds at least 1")
    from bench.report import table
    from bench.stats import percentile

    try:
        samples, stamped = _measure(args.streams, args.rounds)
    except (RuntimeError, OSError, ValueError) as exc:  # a server that would not start or died, no stamps
        print(f"python -m bench.ttft_stages: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    medians = stage_medians(stamped)
    if not medians:
        print("the stamped gateway recorded no complete stream", file=sys.stderr)
        return 1
    ttft = {name: percentile(v, 50) * 1e3 for name, v in samples.items()}
    print(
        table(["target", "TTFT p50 ms", "added ms"], [[n, v, v - ttft["direct"]] for n, v in ttft.items()], 3)
    )
    rows: list[list[Any]] = []
    previous = 0.0
    for stage in STAGES:
        rows.append([stage, medians[stage], medians[stage] - previous])
        previous = medians[stage]
    print()
    print(table(["stage (gateway, one stream at a time)", "ms since arrival", "ms this stage"], rows, 3))
    penalty = idle_penalty()
    warm, cold = penalty[0.0005], penalty[0.25]
    print(
        f"\nthe same Python work after 0.5 ms idle {warm:.0f} µs, after 250 ms idle {cold:.0f} µs "
        f"({cold / warm:.1f}x): one stream at a time, every stage runs on a machine that has just woken"
    )
    if args.json is not None:
        figures = {"ttft_p50_ms": ttft, "stages_ms": medians, "idle_penalty_us": penalty}
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
