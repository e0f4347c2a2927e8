"""`modelgate vllm-sim`: run the vLLM-compatible simulator in the foreground.

    modelgate vllm-sim --port 8001 --ttft-ms 20 --itl-ms 5 --answers evals/suites/answers.jsonl

Bad arguments (or an answers file that does not parse, or a port that cannot be bound) exit 2 with one
line on stderr. OTLP tracing is on when `--otlp-endpoint` or OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from adapters.vllm.sim.app import create_sim_app
from adapters.vllm.sim.config import FAULT_STATUSES, SimConfig
from adapters.vllm.sim.server import bind_socket, uvicorn_server
from adapters.vllm.sim.tracing import resolve_traces_endpoint

__all__ = ["build_parser", "config_from_args", "main"]

_PROG = "modelgate vllm-sim"


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=_PROG, description="Run the vLLM-compatible simulator (OpenAI API, vLLM metrics).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8001)
    p.add_argument("--model", default="sim-llama-3-8b", help="served model name (default %(default)s)")
    p.add_argument("--max-model-len", type=int, default=8192, help="context length (default %(default)s)")
    p.add_argument("--ttft-ms", type=float, default=20.0, help="time to first token (default %(default)s)")
    p.add_argument("--itl-ms", type=float, default=5.0, help="inter-token latency (default %(default)s)")
    p.add_argument(
        "--jitter", type=float, default=0.1, help="relative jitter on delays (default %(default)s)"
    )
    p.add_argument("--tokens", type=int, default=16, help="tokens per echoed answer (default %(default)s)")
    p.add_argument("--max-concurrency", type=int, default=64, help="sequences run at once (default 64)")
    p.add_argument("--fail-rate", type=float, default=0.0, help="share of requests answered with an error")
    p.add_argument("--fail-status", type=int, default=500, choices=FAULT_STATUSES, help="status of those")
    p.add_argument("--answers", type=Path, help="JSONL of {prompt, answer} lines to answer from")
    p.add_argument("--wrong-rate", type=float, default=0.0, help="share of scripted answers given wrong")
    p.add_argument(
        "--overreport-tokens",
        type=int,
        default=0,
        help="add this many tokens to usage.completion_tokens of every response (a billing fault)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for faults, wrong answers and jitter")
    p.add_argument("--otlp-endpoint", help="OTLP/HTTP collector URL for traces (base or .../v1/traces)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    return p


def config_from_args(args: argparse.Namespace) -> SimConfig:
    return SimConfig(
        model=args.model,
        max_model_len=args.max_model_len,
        ttft_ms=args.ttft_ms,
        itl_ms=args.itl_ms,
        jitter=args.jitter,
        tokens=args.tokens,
        max_concurrency=args.max_concurrency,
        fail_rate=args.fail_rate,
        fail_status=args.fail_status,
        wrong_rate=args.wrong_rate,
        overreport_tokens=args.overreport_tokens,
        answers_file=args.answers,
        seed=args.seed,
        otlp_traces_endpoint=resolve_traces_endpoint(args.otlp_endpoint, os.environ),
    )


def _fail(message: str) -> int:
    print(f"{_PROG}: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except _UsageError as exc:
        return _fail(str(exc))
    config = config_from_args(args)
    problems = config.problems()
    if not 0 <= args.port <= 65535:
        problems.append("port must be between 0 and 65535")
    if problems:
        return _fail(problems[0])

    try:
        app = create_sim_app(config)
    except ValueError as exc:
        return _fail(str(exc))
    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        return _fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    host, port = sock.getsockname()[:2]
    print(f"vllm-sim: serving {config.model!r} on http://{host}:{port}", file=sys.stderr, flush=True)
    with sock:
        uvicorn_server(app, log_level=args.log_level).run(sockets=[sock])
    return 0
