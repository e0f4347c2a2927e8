"""`modelgate performance`: realised and estimated churn-model performance per window, and the AUC gate.

    modelgate performance [--days 90] [--window weekly|daily] [--end ISO] [--json FILE] [--html FILE]
                          [--config PATH]

Exit codes: 0 healthy, 1 the latest well-labelled window of a version is below its validation AUC minus
`monitoring.performance.auc_drop`, 2 bad input or usage (one line on stderr). The JSON summary goes to
stdout (or `--json FILE`), notes and progress to stderr. Each run publishes job `performance`.
Heavy imports (pandas, scikit-learn) happen after the arguments are parsed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from adapters.cli_args import OneLineParser, iso_datetime, one_line, parse_or_exit_code, positive_int

if TYPE_CHECKING:
    from monitoring.config import MonitoringConfig

__all__ = ["main"]

PROG = "modelgate performance"


def _parser() -> OneLineParser:
    p = OneLineParser(
        prog=PROG, description="True (after labels) and estimated performance of the churn model."
    )
    p.add_argument("--config", help="modelgate.yaml (default: $MODELGATE_CONFIG, ./modelgate.yaml)")
    p.add_argument(
        "--days", type=positive_int, help="how far back to look (default monitoring.performance.days, 90)"
    )
    p.add_argument("--window", choices=["daily", "weekly"], help="window size (default weekly)")
    p.add_argument("--end", type=iso_datetime, help="period end, ISO 8601 (default now; naive times are UTC)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the JSON summary here, not to stdout")
    p.add_argument("--html", type=Path, metavar="FILE", help="write the HTML report here")
    return p


def _say(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_or_exit_code(_parser(), argv)
    if isinstance(args, int):  # a usage error (its line printed) or --help
        return args
    from monitoring.config import ConfigFileError, load_monitoring_config

    run_started = time.time()
    try:
        cfg = load_monitoring_config(args.config)
    except ConfigFileError as exc:
        _say(f"error: {exc}")
        return 2
    return _run(args, cfg, run_started)


def _run(args: argparse.Namespace, cfg: MonitoringConfig, started: float) -> int:
    from adapters.churn.artifact import ArtifactError
    from gateway.logcontract.job_results import JobRun, publish
    from gateway.logcontract.window import LogReadError
    from monitoring.config import ConfigFileError
    from monitoring.labels.settings import LabelsSettingsError, labels_settings
    from monitoring.performance.job import PerformanceRequest, run_performance
    from monitoring.performance.report import render_html
    from monitoring.performance.settings import PerformanceSettingsError, performance_settings
    from monitoring.progress import RowProgress

    run = JobRun(job="performance", started_at=started)
    input_errors = (
        ConfigFileError,
        ArtifactError,
        LogReadError,
        LabelsSettingsError,
        PerformanceSettingsError,
        OSError,
    )
    try:
        settings = performance_settings(cfg.section("performance"))
        request = PerformanceRequest(
            days=args.days or settings.days, window=args.window or settings.window, end=args.end
        )
        outcome = run_performance(
            cfg,
            labels_settings(cfg.section("labels")),
            settings,
            request,
            say=_say,
            progress=RowProgress("reading predictions", sys.stderr),
        )
        text = json.dumps(outcome.summary, indent=2, sort_keys=True)
        if args.json is None:
            print(text)
        else:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(text + "\n", encoding="utf-8")
        if args.html is not None:
            args.html.parent.mkdir(parents=True, exist_ok=True)
            args.html.write_text(render_html(outcome.summary, outcome.results), encoding="utf-8")
    except input_errors as exc:
        _say(f"error: {one_line(exc)}")
        publish(cfg.results_dir, run, exit_code=2, metrics=[], pushgateway_url=cfg.pushgateway_url)
        return 2
    except Exception as exc:  # a job CLI ends in one line, never a traceback; the run is recorded as failed
        _say(f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}")
        publish(cfg.results_dir, run, exit_code=2, metrics=[], pushgateway_url=cfg.pushgateway_url)
        return 2
    for b in outcome.breaches:
        _say(
            f"{b.model_version}: AUC {b.auc:.3f} on the window of {b.window_start.date()} "
            f"({b.n_labeled} labels) is below {b.limit:.3f}"
        )
    try:
        publish(
            cfg.results_dir,
            run,
            exit_code=outcome.exit_code,
            metrics=outcome.metrics,
            pushgateway_url=cfg.pushgateway_url,
            skipped_files=outcome.summary["skipped_files"],
        )
    except OSError as exc:
        _say(f"error: cannot publish the job result to {cfg.results_dir}: {exc.strerror or exc}")
        return 2
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main())
