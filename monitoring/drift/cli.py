"""`modelgate drift`: data drift, prediction drift, and a simulator that writes windows to check them on.

    modelgate drift data       [--days 7] [--model-version V] [--against training|previous] [--by tenant]
                               [--end ISO] [--json FILE] [--html FILE] [--config PATH]
    modelgate drift prediction (same options) [--self-test]
    modelgate drift simulate   --out URI [--days 7] [--rows-per-day N] [--shift calm|covariate]
                               [--model-version V] [--artifact DIR] [--end ISO] [--seed N] [--tenants a,b]

Exit codes: 0 no drift (or too few rows to judge: `verdict: too_few_rows`), 1 drift (share of drifted
columns >= monitoring.drift.share_gate; for the
self-test: the detector failed its check), 2 bad input or usage, with one line on stderr. The JSON summary
goes to stdout (or `--json FILE`); notes and progress go to stderr. Each data/prediction run publishes a
job result (`drift_data` / `drift_prediction`, variant = `--against`), a failed one included.

This module imports only the standard library (and adapters.cli_args, which does too) at import time:
pandas, pyarrow and above all Evidently (15 s) load after the arguments are parsed, so `--help` and
usage errors answer at once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.cli_args import OneLineParser, iso_datetime, one_line, parse_or_exit_code, positive_int

if TYPE_CHECKING:
    from gateway.logcontract.job_results import JobMetric, JobRun
    from monitoring.config import MonitoringConfig

__all__ = ["build_parser", "main"]

PROG = "modelgate drift"


def _check_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--config", help="modelgate.yaml (default: $MODELGATE_CONFIG, then ./modelgate.yaml)")
    sub.add_argument(
        "--days", type=positive_int, help="window length in days (default: monitoring.drift.days, 7)"
    )
    sub.add_argument("--model-version", help="model version to check (default: newest in the window)")
    sub.add_argument(
        "--against",
        choices=["training", "previous"],
        default="training",
        help="reference: the version's training data, or the window of the same length just before",
    )
    sub.add_argument("--by", choices=["tenant"], help="also report drift per segment (pinned methods)")
    sub.add_argument(
        "--end", type=iso_datetime, help="window end, ISO 8601 (default: now; naive times are UTC)"
    )
    sub.add_argument("--json", type=Path, metavar="FILE", help="write the JSON summary here, not to stdout")
    sub.add_argument("--html", type=Path, metavar="FILE", help="also render Evidently's HTML report here")
    sub.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description="Data and prediction drift of the churn model.")
    subs = parser.add_subparsers(dest="command", required=True, metavar="{data,prediction,simulate}")
    data = subs.add_parser("data", help="feature drift of one model version's window")
    _check_options(data)
    pred = subs.add_parser("prediction", help="drift of the served churn_probability")
    _check_options(pred)
    pred.add_argument(
        "--self-test", action="store_true", help="check the detector: calm must pass, +0.15 must trip"
    )
    sim = subs.add_parser("simulate", help="write a scored window into the prediction-log layout")
    sim.add_argument("--out", required=True, help="prediction log URI (folder or s3://…) to write into")
    sim.add_argument("--config", help="modelgate.yaml, for the default --artifact")
    sim.add_argument("--days", type=positive_int, default=7, help="days in the window (default 7)")
    sim.add_argument("--rows-per-day", type=positive_int, default=2000, help="rows per day (default 2000)")
    sim.add_argument(
        "--shift", choices=["calm", "covariate"], default="calm", help="population (default calm)"
    )
    sim.add_argument("--model-version", help="version written in the log (default: the artifact's)")
    sim.add_argument(
        "--artifact", type=Path, help="artifact that scores the rows (default: churn.artifact_dir)"
    )
    sim.add_argument("--end", type=iso_datetime, help="window end, ISO 8601 (default: now)")
    sim.add_argument("--seed", type=int, default=0, help="seed of every draw (default 0)")
    sim.add_argument("--tenants", default="acme,globex,initech", help="comma-separated tenants")
    return parser


def _input_errors() -> tuple[type[Exception], ...]:
    """Errors that mean "bad input" (exit 2, one line), OSError included: a path that cannot be used."""
    from adapters.churn.artifact import ArtifactError
    from gateway.logcontract.window import LogReadError
    from monitoring.config import ConfigFileError
    from monitoring.drift.errors import DriftInputError

    return (DriftInputError, LogReadError, ConfigFileError, ArtifactError, OSError)


def _emit(summary: dict[str, Any], target: Path | None) -> None:
    text = json.dumps(summary, indent=2, sort_keys=True, default=str)
    if target is None:
        print(text)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text + "\n", encoding="utf-8")


def _publish(
    cfg: MonitoringConfig, run: JobRun, code: int, metrics: list[JobMetric], skipped: list[str] | None
) -> None:
    from gateway.logcontract.job_results import publish

    publish(
        cfg.results_dir,
        run,
        exit_code=code,
        metrics=metrics,
        pushgateway_url=cfg.pushgateway_url,
        skipped_files=skipped,
    )


def _judge(
    args: argparse.Namespace, cfg: MonitoringConfig, say: Callable[[str], None]
) -> tuple[int, dict[str, Any], list[JobMetric]]:
    """Run the job (or the self-test) to an exit code, a summary and the metrics to publish."""
    from monitoring.drift.jobs import DriftRequest, run_job
    from monitoring.drift.settings import drift_settings
    from monitoring.progress import RowProgress

    base = cfg.config_path.resolve().parent if cfg.config_path else Path.cwd()
    settings = drift_settings(cfg.section("drift"), base)
    if getattr(args, "self_test", False):
        from monitoring.drift.selftest import self_test

        code, summary = self_test(cfg, settings, args.model_version, say=say)
        return code, summary, []
    req = DriftRequest(
        kind=args.command,
        days=args.days or settings.days,
        model_version=args.model_version,
        against=args.against,
        by=args.by,
        end=args.end,
        html=args.html,
    )
    outcome = run_job(cfg, settings, req, say=say, progress=RowProgress("reading window", sys.stderr))
    s = outcome.summary
    if s["verdict"] == "too_few_rows":
        say(f"{s['model_version']}: {s['n_current']} row(s), fewer than min_rows {s['min_rows']}: not judged")
        return outcome.exit_code, outcome.summary, outcome.metrics
    say(
        f"{s['model_version']} vs {s['against']}: {s['n_drifted']}/{s['n_columns']} column(s) drifted "
        f"(share {s['share_drifted']:.2f}, gate {s['share_gate']:.2f}) -> {s['verdict']}"
        + ("; retrain candidate" if s["retrain_candidate"] else "")
    )
    return outcome.exit_code, outcome.summary, outcome.metrics


def _check(args: argparse.Namespace) -> int:
    from gateway.logcontract.job_results import JobRun
    from monitoring.config import load_monitoring_config
    from monitoring.progress import Notes

    say = Notes(f"{PROG} {args.command}", sys.stderr)
    run = JobRun(job=f"drift_{args.command}", variant=args.against, started_at=time.time())
    errors = _input_errors()
    skipped: list[str] | None = None
    try:
        cfg = load_monitoring_config(args.config)
    except errors as exc:
        say(f"error: {one_line(exc)}")
        return 2
    try:
        code, summary, metrics = _judge(args, cfg, say)
        skipped = summary.get("skipped_files")
        _emit(summary, args.json)
    except errors as exc:
        say(f"error: {one_line(exc)}")
        code, metrics = 2, []
    except Exception as exc:
        if args.debug:
            raise
        say(f"internal error: {type(exc).__name__}: {one_line(exc)} (rerun with --debug for the traceback)")
        code, metrics = 2, []
    if getattr(args, "self_test", False):
        return code
    try:
        _publish(cfg, run, code, metrics, skipped)
    except OSError as exc:
        say(f"error: cannot publish the job result to {cfg.results_dir}: {one_line(exc)}")
        return 2
    return code


def _simulate(args: argparse.Namespace) -> int:
    from monitoring.drift.simulate import simulate
    from monitoring.progress import Notes

    say = Notes(f"{PROG} simulate", sys.stderr)
    try:
        artifact = args.artifact
        if artifact is None:
            from monitoring.config import load_monitoring_config

            artifact = load_monitoring_config(args.config).artifact_dir
        result = simulate(
            args.out,
            artifact_dir=artifact,
            days=args.days,
            rows_per_day=args.rows_per_day,
            shift=args.shift,
            model_version=args.model_version,
            end=args.end,
            seed=args.seed,
            tenants=[t.strip() for t in args.tenants.split(",") if t.strip()],
            say=say,
        )
    except _input_errors() as exc:
        say(f"error: {one_line(exc)}")
        return 2
    summary = {
        "out": args.out,
        "model_version": result.model_version,
        "rows": result.rows,
        "days": args.days,
        "shift": args.shift,
        "start": result.start.isoformat(),
        "end": result.end.isoformat(),
        "files": len(result.files),
    }
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `modelgate drift`; returns the exit code."""
    args = parse_or_exit_code(build_parser(), argv)
    if isinstance(args, int):  # a usage error (2, its one line printed) or --help (0)
        return args
    if args.command == "simulate":
        return _simulate(args)
    return _check(args)


if __name__ == "__main__":
    sys.exit(main())
