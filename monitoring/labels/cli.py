"""`modelgate labels ingest FILE` and `modelgate labels simulate --out FILE`: thin I/O over the pure parts.

Exit codes: 0 done (bad rows, if any, are reported on stderr and skipped), 2 bad input or usage — one line
on stderr. `ingest` publishes its run as job `labels_ingest` (docs/metrics.md):

    modelgate labels ingest billing-2025-11.csv --label-column status
    modelgate labels simulate --out billing.csv --delay-days 30 --concept-shift 0.5
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from adapters.cli_args import OneLineParser, UsageError, parse_or_exit_code
from gateway.logcontract.job_results import JobMetric, JobRun, publish
from monitoring.config import ConfigFileError, MonitoringConfig, load_monitoring_config
from monitoring.labels.parse import LabelColumns, LabelFileError, parse_labels, read_export
from monitoring.labels.settings import LabelsSettingsError, labels_settings
from monitoring.labels.store import append_records

__all__ = ["main"]

JOB = "labels_ingest"


def _parser() -> OneLineParser:
    parser = OneLineParser(prog="modelgate labels", description="Ingest delayed billing labels.")
    sub = parser.add_subparsers(dest="command", required=True)
    ingest = sub.add_parser("ingest", help="add a billing export (CSV or Parquet) to the label store")
    ingest.add_argument("file", type=Path, help="the export: customer id, outcome, date it became known")
    ingest.add_argument("--config", help="modelgate.yaml (default: $MODELGATE_CONFIG, ./modelgate.yaml)")
    ingest.add_argument("--id-column", help="column holding the customer id (default customer_id)")
    ingest.add_argument("--label-column", help="column holding the outcome (default churned)")
    ingest.add_argument(
        "--known-at-column", help="column holding the date it became known (default known_at)"
    )
    ingest.add_argument("--delimiter", default=",", help="CSV field delimiter (default ,)")

    sim = sub.add_parser("simulate", help="write a billing export for the logged traffic (demo, tests)")
    sim.add_argument("--out", type=Path, required=True, help="file to write (.csv or .parquet)")
    sim.add_argument("--config", help="modelgate.yaml (default: $MODELGATE_CONFIG, ./modelgate.yaml)")
    sim.add_argument("--delay-days", type=int, default=30, help="days until an outcome is known (default 30)")
    sim.add_argument("--concept-shift", type=float, default=0.0, help="0-1: change the true churn function")
    sim.add_argument("--days", type=int, default=120, help="days of prediction log to label (default 120)")
    sim.add_argument("--as-of", help="export date, ISO (default now): later outcomes are left out")
    sim.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_or_exit_code(_parser(), argv)
    if isinstance(args, int):  # a usage error (its line printed) or --help
        return args
    try:
        return _ingest(args) if args.command == "ingest" else _simulate(args)
    except Exception as exc:  # a job CLI ends in one line, never a traceback
        print(
            f"modelgate labels {args.command}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr
        )
        return 2


def _ingest(args: argparse.Namespace) -> int:
    run = JobRun(job=JOB)
    try:
        cfg = load_monitoring_config(args.config)
    except ConfigFileError as exc:
        print(f"modelgate labels: {exc}", file=sys.stderr)
        return 2
    try:
        code = _ingest_with(cfg, args, run)
    except (LabelFileError, LabelsSettingsError, ConfigFileError, OSError) as exc:
        # OSError: the label store cannot be written (permissions, full disk, unreachable bucket).
        print(f"modelgate labels ingest: {' '.join(str(exc).split())}", file=sys.stderr)
        publish(cfg.results_dir, run, exit_code=2, metrics=[], pushgateway_url=cfg.pushgateway_url)
        return 2
    return code


def _ingest_with(cfg: MonitoringConfig, args: argparse.Namespace, run: JobRun) -> int:
    settings = labels_settings(cfg.section("labels"))
    defaults = settings.columns
    columns = LabelColumns(
        customer_id=args.id_column or defaults.customer_id,
        churned=args.label_column or defaults.churned,
        known_at=args.known_at_column or defaults.known_at,
    )
    parsed = parse_labels(read_export(args.file, delimiter=args.delimiter), columns)
    for line in parsed.bad_summary():
        print(f"skipped {line}", file=sys.stderr)
    if parsed.records.empty:
        raise LabelFileError(f"{args.file}: no usable rows ({parsed.n_rows} rows, {len(parsed.bad)} bad)")
    now = pd.Timestamp.now(tz="UTC")
    added = append_records(cfg.labels_uri, parsed.records, source=args.file.name, ingested_at=now)
    duplicates = len(parsed.records) - added
    print(
        f"{args.file}: {parsed.n_rows} rows, {added} new labels stored, {duplicates} already stored, "
        f"{len(parsed.bad)} bad rows skipped -> {cfg.labels_uri}"
    )
    labels = {"model": "churn"}
    metrics = [
        JobMetric("modelgate_labels_ingested_rows", "Label records the last ingest added.", labels, added),
        JobMetric(
            "modelgate_labels_duplicate_rows",
            "Usable rows the last ingest found already stored.",
            labels,
            duplicates,
        ),
        JobMetric(
            "modelgate_labels_bad_rows", "Rows the last ingest skipped as unusable.", labels, len(parsed.bad)
        ),
    ]
    publish(cfg.results_dir, run, exit_code=0, metrics=metrics, pushgateway_url=cfg.pushgateway_url)
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from gateway.logcontract.window import LogReadError, list_versions, read_window
    from monitoring.labels.simulate import simulate_billing_export  # imports the generator

    try:
        cfg = load_monitoring_config(args.config)
        if args.delay_days < 0 or args.days < 1:
            raise UsageError("--delay-days must be >= 0 and --days >= 1")
        if not 0.0 <= args.concept_shift <= 1.0:
            raise UsageError(f"--concept-shift must be in [0, 1], got {args.concept_shift}")
        as_of = _timestamp(args.as_of) if args.as_of else pd.Timestamp.now(tz="UTC")
        suffix = args.out.name.lower()
        if not suffix.endswith((".csv", ".parquet")):
            raise UsageError(f"--out {args.out}: expected a .csv or .parquet file name")
        from adapters.churn.schema import FEATURE_NAMES

        # The log is read up to now whatever --as-of says: outcomes known after it are dropped below.
        # read_window returns one model version at a time; a billing export covers every customer.
        columns = ["ts", "customer_id", *FEATURE_NAMES]
        frames = [
            read_window(
                cfg.prediction_log_uri, days=args.days, model_version=v, columns=columns
            ).table.to_pandas()
            for v in list_versions(cfg.prediction_log_uri, args.days)
        ]
        if not frames:
            raise UsageError(
                f"the prediction log {cfg.prediction_log_uri} has no rows in the last {args.days} days"
            )
        rows = pd.concat(frames, ignore_index=True)
        export = simulate_billing_export(
            rows, delay_days=args.delay_days, concept_shift=args.concept_shift, as_of=as_of, seed=args.seed
        )
    except (ConfigFileError, UsageError, LogReadError, ValueError) as exc:
        print(f"modelgate labels simulate: {exc}", file=sys.stderr)
        return 2
    try:
        _write_export(export, args.out)
    except OSError as exc:
        print(f"modelgate labels simulate: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    customers = rows["customer_id"].dropna().nunique()
    print(
        f"{len(rows)} logged predictions, {customers} customers: {len(export)} outcomes known by "
        f"{as_of.date()} written to {args.out}"
    )
    return 0


def _write_export(export: pd.DataFrame, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.name.lower().endswith(".parquet"):
        # What a billing system's Parquet would hold: a real boolean and a real date.
        table = pa.table(
            {
                "customer_id": pa.array(export["customer_id"], pa.string()),
                "churned": pa.array(export["churned"] == "true", pa.bool_()),
                "known_at": pa.array(pd.to_datetime(export["known_at"]).dt.date, pa.date32()),
            }
        )
        pq.write_table(table, out)
    else:
        export.to_csv(out, index=False)


def _timestamp(text: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(text)
    except ValueError:
        raise UsageError(f"--as-of {text!r} is not an ISO date") from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


if __name__ == "__main__":
    sys.exit(main())
