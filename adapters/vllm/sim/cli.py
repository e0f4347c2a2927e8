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

from adapters.cli_args import (
    OneLineParser,
    non_negative_float,
    non_negative_int,
    parse_or_exit_code,
    port_number,
    positive_int,
    probability,
)
from adapters.vllm.sim.app import create_sim_app
from adapters.vllm.sim.config import FAULT_STATUSES, SimConfig
from adapters.vllm.sim.server import bind_socket, uvicorn_server
from adapters.vllm.sim.tracing import resolve_traces_endpoint

__all__ = ["build_parser", "config_from_args", "main"]

_PROG = "modelgate vllm-sim"


def _model_name(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog=_PROG, description=__doc__)
    d = SimConfig()  # the flags' defaults are the config's, so the two cannot drift apart
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument(
        "--port", type=port_number, default=8001, help="port, 0 for a free one (default: %(default)s)"
    )
    p.add_argument(
        "--model", type=_model_name, default=d.model, help="served model name (default: %(default)s)"
    )
    p.add_argument(
        "--max-model-len",
        type=positive_int,
        default=d.max_model_len,
        help="context length, tokens (default: %(default)s)",
    )
    p.add_argument(
        "--ttft-ms",
        type=non_negative_float,
        default=d.ttft_ms,
        help="time to first token, ms (default: %(default)s)",
    )
    p.add_argument(
        "--itl-ms",
        type=non_negative_float,
        default=d.itl_ms,
        help="inter-token latency, ms (default: %(default)s)",
    )
    p.add_argument(
        "--jitter",
        type=probability,
        default=d.jitter,
        help="relative jitter on delays (default: %(default)s)",
    )
    p.add_argument(
        "--tokens",
        type=positive_int,
        default=d.tokens,
        help="tokens per echoed answer (default: %(default)s)",
    )
    p.add_argument(
        "--max-concurrency",
        type=positive_int,
        default=d.max_concurrency,
        help="sequences run at once (default: %(default)s)",
    )
    p.add_argument(
        "--fail-rate",
        type=probability,
        default=d.fail_rate,
        help="share of requests answered with an error (default: %(default)s)",
    )
    p.add_argument(
        "--fail-status",
        type=int,
        choices=FAULT_STATUSES,
        default=d.fail_status,
        help="status of those (default: %(default)s)",
    )
    p.add_argument("--answers", type=Path, help="JSONL of {prompt, answer} lines to answer from")
    p.add_argument(
        "--wrong-rate",
        type=probability,
        default=d.wrong_rate,
        help="share of scripted answers given wrong (default: %(default)s)",
    )
    p.add_argument(
        "--overreport-tokens",
        type=non_negative_int,
        default=d.overreport_tokens,
        help="add this many tokens to usage.completion_tokens of every response, a billing fault "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=d.seed,
        help="seed for faults, wrong answers and jitter (default: %(default)s)",
    )
    p.add_argument(
        "--otlp-endpoint",
        help="OTLP/HTTP collector URL for traces, base or .../v1/traces "
        "(default: $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, then $OTEL_EXPORTER_OTLP_ENDPOINT, else no tracing)",
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn's log level (default: %(default)s)",
    )
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
    args = parse_or_exit_code(build_parser(), argv)
    if isinstance(args, int):  # a usage error (2, its one line printed) or --help (0)
        return args
    config = config_from_args(args)
    problems = config.problems()  # the flags' types catch these first; SimConfig checks itself too
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
