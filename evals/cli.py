"""`modelgate eval`: run suites, judge production samples, list the run history.

    modelgate eval run SUITE [--model M] [--concurrency N] [--baseline trailing:K] [--base-url URL]
                             [--api-key KEY] [--json FILE] [--html FILE] [--cache] [--timeout S] [--retries N]
    modelgate eval sample [--days D] [--rate R] [--seed S] [--model M] [--json FILE] ...
    modelgate eval history [SUITE] [--model M] [--limit N]

--base-url / --api-key default to $OPENAI_BASE_URL / $OPENAI_API_KEY (the gateway's `/v1` URL and a tenant
key). Without --model (and evals.model for `run`) the gateway's only model is used (`GET /v1/models`);
when it serves several the job exits 2 listing them. Exit codes: 0 no regression, 1 regression, 2 bad
input (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from adapters.cli_args import OneLineParser, UsageError, positive_int

__all__ = ["build_parser", "main"]

_PROG = "modelgate eval"


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="modelgate.yaml (default $MODELGATE_CONFIG, then ./modelgate.yaml)")
    p.add_argument("--model", help="model to evaluate (default evals.model, else the gateway's only model)")
    p.add_argument(
        "--base-url", help="gateway OpenAI base URL, e.g. http://127.0.0.1:8000/v1 ($OPENAI_BASE_URL)"
    )
    p.add_argument("--api-key", help="tenant API key ($OPENAI_API_KEY)")
    p.add_argument("--concurrency", type=positive_int, help="requests in flight (default evals.concurrency)")
    p.add_argument(
        "--baseline", help="trailing:K — compare with the previous K runs (default evals.baseline)"
    )
    p.add_argument("--timeout", type=float, help="seconds per request attempt (default evals.timeout_s)")
    p.add_argument("--retries", type=int, help="retries of 429/5xx/timeouts (default evals.retries)")
    p.add_argument("--json", type=Path, help="also write the JSON summary here")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=_PROG, description="Eval suites, judged production samples, run history.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    run = sub.add_parser("run", help="run a suite and compare it with its trailing baseline")
    run.add_argument("suite", help="a suite file, or the name of one in evals.suites_dir")
    _add_common(run)
    run.add_argument("--html", type=Path, help="also write the HTML report here")
    run.add_argument(
        "--cache", action="store_true", help="reuse answers to unchanged items (same model, params)"
    )
    sample = sub.add_parser("sample", help="judge a seeded sample of logged LLM traffic")
    _add_common(sample)
    sample.add_argument("--days", type=positive_int, help="days of log to sample (default evals.sample.days)")
    sample.add_argument("--rate", type=float, help="share of requests drawn (default evals.sample.rate)")
    sample.add_argument("--seed", type=int, help="seed of the draw (default evals.sample.seed)")
    sample.add_argument("--max-items", type=positive_int, help="most rows judged per model")
    history = sub.add_parser("history", help="list recorded runs, newest first")
    history.add_argument("suite", nargs="?", help="only this suite")
    history.add_argument("--config", help="modelgate.yaml")
    history.add_argument("--model", help="only this model")
    history.add_argument("--limit", type=positive_int, default=20)
    return parser


def _endpoint(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[str, str]:
    base_url = args.base_url or environ.get("OPENAI_BASE_URL")
    api_key = args.api_key or environ.get("OPENAI_API_KEY")
    if not base_url:
        raise UsageError(f"{_PROG}: no gateway URL: pass --base-url or set OPENAI_BASE_URL")
    if not api_key:
        raise UsageError(f"{_PROG}: no API key: pass --api-key or set OPENAI_API_KEY")
    return base_url, api_key


def _dispatch(args: argparse.Namespace, environ: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    # Imported here so `modelgate eval --help` stays fast and a config error is reported before any work.
    from evals.config import load_evals_config

    cfg = load_evals_config(args.config)
    section = cfg.section
    if args.command == "history":
        from evals.history import HistoryStore
        from evals.report import history_lines

        with HistoryStore.open(cfg.history_path) as store:
            runs = store.list_runs(suite=args.suite, model=args.model, limit=args.limit)
        out.writelines(line + "\n" for line in history_lines(runs))
        return 0
    base_url, api_key = _endpoint(args, environ)
    common = {
        "base_url": base_url,
        "api_key": api_key,
        "concurrency": args.concurrency or section.concurrency,
        "timeout_s": args.timeout if args.timeout is not None else section.timeout_s,
        "retries": args.retries if args.retries is not None else section.retries,
        "json_path": args.json,
    }
    if common["timeout_s"] <= 0 or common["retries"] < 0:
        raise UsageError(f"{_PROG}: --timeout must be > 0 and --retries >= 0")
    from evals.models import NoModel, pick_model

    if args.command == "run":
        from evals.run_job import RunRequest, run_eval

        try:
            model = pick_model(args.model or section.model, base_url, api_key, timeout_s=common["timeout_s"])
        except NoModel as exc:
            raise UsageError(f"{_PROG}: {exc}") from None
        req = RunRequest(
            suite=args.suite,
            model=model,
            baseline=args.baseline or section.baseline,
            use_cache=args.cache,
            html_path=args.html,
            **common,
        )
        return run_eval(req, cfg, environ=environ, out=out, err=err)
    from evals.sample_job import SampleRequest, run_sample

    s = section.sample
    rate = args.rate if args.rate is not None else s.rate
    if not 0 < rate <= 1:
        raise UsageError(f"{_PROG}: --rate must be in (0, 1]")
    try:
        sample_model = pick_model(args.model, base_url, api_key, timeout_s=common["timeout_s"])
    except NoModel as exc:
        raise UsageError(f"{_PROG}: {exc}") from None
    sample_req = SampleRequest(
        days=args.days or s.days,
        rate=rate,
        seed=args.seed if args.seed is not None else s.seed,
        baseline=args.baseline or s.baseline,
        max_items=args.max_items or s.max_items,
        model=sample_model,
        **common,
    )
    return run_sample(sample_req, cfg, environ=environ, out=out, err=err)


def main(argv: Sequence[str] | None = None) -> int:
    from evals.errors import EvalInputError
    from gateway.configfile import ConfigFileError

    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        if not args_list or args_list[0] in ("-h", "--help"):
            parser.print_help()
            return 0 if args_list else 2
        try:
            args = parser.parse_args(args_list)
        except SystemExit as exc:  # `--help` of a subcommand
            return int(exc.code or 0)
        return _dispatch(args, os.environ, sys.stdout, sys.stderr)
    except UsageError as exc:  # its message already starts with the command's name
        print(exc, file=sys.stderr)
        return 2
    except (EvalInputError, ConfigFileError) as exc:
        print(f"{_PROG}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{_PROG}: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except sqlite3.Error as exc:
        print(f"{_PROG}: run history: {exc}", file=sys.stderr)
        return 2
