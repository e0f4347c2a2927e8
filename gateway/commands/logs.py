"""`modelgate logs compact [--before TIMESTAMP]`: compaction, retention and cleanup of both request logs.

    modelgate logs compact                         # closed periods up to now minus the flush interval
    modelgate logs compact --before 2026-11-26T00:00:00Z --log predictions

The gateway owns its logs, so this command reads the gateway's own settings (`logs:` section,
docs/configuration.md) and the log locations with `MODELGATE_*` applied. It publishes job `logs_compact`
(docs/contracts.md, "Job results") with one variant per log. Exit 0 on success, 2 on bad input or an
unreachable log; it never leaves a log half-compacted for readers (`gateway.logcontract.compact`).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from adapters.cli_args import OneLineParser, parse_or_exit_code

__all__ = ["main"]

PROG = "modelgate logs"


def _timestamp(value: str) -> datetime:
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog=PROG, description="Maintain the Parquet request logs.")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compact", help="rewrite closed periods into few large files; apply retention")
    c.add_argument("--config", help="modelgate.yaml (default $MODELGATE_CONFIG, then ./modelgate.yaml)")
    c.add_argument(
        "--before",
        type=_timestamp,
        help="compact periods that ended before this time, ISO 8601 (default: now - the flush interval)",
    )
    c.add_argument(
        "--log", choices=["predictions", "llm", "all"], default="all", help="which log (default all)"
    )
    return p


def main(argv: list[str]) -> int:
    args = parse_or_exit_code(_parser(), argv)
    if isinstance(args, int):  # a usage error (2, its one line printed) or --help (0)
        return args
    from gateway.settings import ConfigError, load_settings

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    from gateway.logcontract.compact import CompactionPolicy, compact_log
    from gateway.logcontract.job_results import JobMetric, JobRun, publish
    from gateway.logcontract.listing import LogReadError
    from gateway.logcontract.schemas import LLM_LOG, PREDICTION_LOG

    cfg = settings.logs
    policy = CompactionPolicy(
        period=cfg.compaction_period,
        target_bytes=int(cfg.compaction_target_mb * 1024 * 1024),
        retention_days=cfg.retention_days,
        stale_tmp_s=cfg.stale_tmp_minutes * 60,
        sample_rows=cfg.sample_rows,
    )
    now = datetime.now(UTC)
    before = args.before or now - timedelta(seconds=settings.prediction_log.flush_seconds)
    logs = {
        "predictions": (settings.prediction_log_uri, PREDICTION_LOG),
        "llm": (settings.llm_log_uri, LLM_LOG),
    }
    push = settings.jobs.pushgateway_url
    worst = 0
    for name, (uri, spec) in logs.items():
        if args.log not in (name, "all"):
            continue
        run = JobRun(job="logs_compact", variant=name, started_at=time.time())
        try:
            # Only the prediction log is read by sampled windows (the drift jobs); the LLM log's readers
            # take every matching row, so samples there would only cost space.
            kept = policy if spec is PREDICTION_LOG else replace(policy, sample_rows=0)
            report = compact_log(uri, spec, before=before, policy=kept, now=now)
        except (LogReadError, OSError) as exc:
            print(f"{PROG}: error: {name} log {uri}: {' '.join(str(exc).split())}", file=sys.stderr)
            publish(
                settings.results_dir,
                run,
                exit_code=2,
                metrics=[],
                pushgateway_url=push,
            )
            worst = 2
            continue
        print(
            f"{name}: {report.files_in} files ({report.rows:,} rows, {report.bytes_in / 1e6:.1f} MB) -> "
            f"{report.files_out} files ({report.bytes_out / 1e6:.1f} MB) in {report.folders} partitions; "
            f"{report.files_after} live files now; retention deleted {len(report.partitions_deleted)} "
            f"partitions; removed {report.tmp_removed} stale temporary, {report.incomplete_removed} broken "
            f"and {report.covered_removed} already-compacted files; wrote {report.samples_written} samples"
        )
        for path in report.corrupt:
            print(f"{PROG}: warning: unreadable file set aside as {path}", file=sys.stderr)
        labels = {"log": name}
        figures = (
            ("modelgate_log_compaction_input_files", "Files the latest compaction rewrote.", report.files_in),
            ("modelgate_log_compaction_output_files", "Files the latest compaction wrote.", report.files_out),
            (
                "modelgate_log_live_files",
                "Live files in the partitions compaction looked at.",
                report.files_after,
            ),
            (
                "modelgate_log_retention_deleted_partitions",
                "date= partitions the latest run deleted for retention.",
                len(report.partitions_deleted),
            ),
        )
        metrics = [JobMetric(metric, help_, labels, float(value)) for metric, help_, value in figures]
        publish(
            settings.results_dir,
            run,
            exit_code=0,
            metrics=metrics,
            pushgateway_url=push,
            skipped_files=report.corrupt,
            log=name,
        )
    return worst
