"""`python -m bench` (`make bench`): every section, figures and ratios against a baseline of the same run.

    python -m bench [--only churn|llm|tracing|drift ...] [--seconds 10] [--connections 32]

Sections, in order: churn (reference service vs gateway, predictor µs/row), llm (simulator direct vs
through the gateway, non-streaming and streaming TTFT), tracing (gateway with tracing off vs on), drift
(bench/drift_bench.py, last; skipped with a note when that module is missing). Servers run as
subprocesses on 127.0.0.1 and are stopped at the end of their section, also on Ctrl-C or an error.
Results go to bench/results/latest.json (and a timestamped copy); progress goes to stderr.

Exit codes: 0 every selected section ran, 1 a section failed (the others still ran), 2 bad usage or
wrk missing, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.load import LoadOptions, load_average
from bench.report import say
from bench.stack import RECEIVERS
from bench.wrk import WrkError, wrk_path

__all__ = ["SECTIONS", "main", "without_nan"]

SECTIONS = ("churn", "llm", "tracing", "ledger", "drift")
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def without_nan(value: Any) -> Any:
    """NaN/inf → None, recursively, so the results file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: without_nan(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_nan(v) for v in value]
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--only", action="append", choices=SECTIONS, help="run this section (repeatable)")
    p.add_argument("--seconds", type=float, default=10.0, help="measured seconds per wrk run (default 10)")
    p.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds before each run (default 3)")
    p.add_argument("--connections", type=int, default=32, help="concurrent connections/streams (default 32)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (default 1: two cores are shared)")
    p.add_argument("--stream-seconds", type=float, default=20.0, help="bound on each streaming run (20)")
    p.add_argument("--max-streams", type=int, default=2000, help="bound on streams per streaming run (2000)")
    p.add_argument(
        "--trace-receiver",
        choices=RECEIVERS,
        default="sink",
        help="OTLP receiver for the tracing section: bench/otlp_sink.py (default), Phoenix, or auto "
        "(Phoenix when installed)",
    )
    p.add_argument("--drift-args", default="", help="arguments for bench.drift_bench, e.g. '--skip-lesson'")
    p.add_argument("--results", type=Path, default=RESULTS_DIR, help="results folder (default bench/results)")
    p.add_argument("--keep", action="store_true", help="keep the work folder (configs, server logs)")
    return p


def _write_results(folder: Path, results: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(without_nan(results), indent=2, ensure_ascii=False) + "\n"
    stamp = results["started_at"].replace(":", "").replace("-", "")
    (folder / f"{stamp}.json").write_text(text, encoding="utf-8")
    latest = folder / "latest.json"
    latest.write_text(text, encoding="utf-8")
    return latest


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sections = [s for s in SECTIONS if s in (args.only or SECTIONS)]
    if min(args.seconds, args.connections, args.threads, args.stream_seconds, args.max_streams) <= 0:
        print(
            "python -m bench: --seconds, --connections, --threads and the stream bounds must be > 0",
            file=sys.stderr,
        )
        return 2
    if set(sections) & {"churn", "llm", "tracing"}:
        try:
            wrk_path()
        except WrkError as exc:
            print(f"python -m bench: {exc}", file=sys.stderr)
            return 2
    options = LoadOptions(
        seconds=args.seconds,
        warmup_s=args.warmup,
        connections=args.connections,
        threads=args.threads,
        stream_seconds=args.stream_seconds,
        max_streams=args.max_streams,
    )
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # SIGTERM unwinds like Ctrl-C, so every section's servers are stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": {"cpus": os.cpu_count(), "load_average_at_start": load_average()},
        "options": {**vars(options), "sections": sections, "trace_receiver": args.trace_receiver},
        "sections": {},
    }
    print(
        f"modelgate bench {results['started_at']}: {', '.join(sections)}; load average {load_average():.1f} "
        f"on {os.cpu_count()} CPUs. The load generator shares these CPUs with the servers: compare the rows "
        "of one run, not figures across runs."
    )
    workdir = Path(tempfile.mkdtemp(prefix="modelgate-bench-"))
    failed: list[str] = []
    interrupted = False
    started = time.perf_counter()
    try:
        for name in sections:
            section_started = time.perf_counter()
            try:
                results["sections"][name] = _runner(name, workdir, options, args)()
            except Exception as exc:  # one section's failure must not cost the others' figures
                failed.append(name)
                results["sections"][name] = {"error": f"{type(exc).__name__}: {exc}"}
                print(f"section {name} FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
            results["sections"][name]["section_wall_s"] = time.perf_counter() - section_started
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: servers stopped; partial results written", file=sys.stderr)
    results["wall_s"] = time.perf_counter() - started
    results["host"]["load_average_at_end"] = load_average()
    latest = _write_results(args.results, results)
    print(
        f"\nresults: {latest}  (whole run {results['wall_s']:.0f} s, load average now {load_average():.1f})"
    )
    if args.keep or failed:
        print(f"work folder kept (configs, server logs): {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    if interrupted:
        return 130
    return 1 if failed else 0


def _runner(
    name: str, workdir: Path, options: LoadOptions, args: argparse.Namespace
) -> Callable[[], dict[str, Any]]:
    # Imported on demand: `--only drift` need not import the load sections, nor they Evidently.
    if name == "churn":
        from bench import churn_section

        return lambda: churn_section.run(workdir, options)
    if name == "llm":
        from bench import llm_section

        return lambda: llm_section.run(workdir, options)
    if name == "tracing":
        from bench import tracing_section

        return lambda: tracing_section.run(workdir, options, args.trace_receiver)
    if name == "ledger":
        from bench import ledger_section

        return lambda: ledger_section.run(workdir)
    from bench import drift_section

    say("drift: bench.drift_bench (its own timings; the first run builds its cached log)")
    return lambda: drift_section.run(shlex.split(args.drift_args))


if __name__ == "__main__":
    sys.exit(main())
