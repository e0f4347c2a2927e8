"""Files per day and partition before and after `modelgate logs compact`, and a reader's wall time on each.

    python -m bench.log_compaction_bench [--hours 24] [--flush-seconds 2] [--rows-per-flush 20]

Writes one partition's day the way the gateway's writer does at a steady trickle: one fsynced,
atomically renamed file per flush interval (`gateway.logcontract.atomic.write_parquet`), i.e. 43,200
files for 24 hours at 2 s. Then, with a cold-ish page cache each time (the reads follow each other, so
the second run of a kind is warmer; both kinds are read twice and the second time is reported):
- the reader (`read_window`, the drift job's read: 7 feature columns, 200,000-row sample) on the
  uncompacted day;
- `compact_log` with the default policy (one file per closed hour);
- the same read on the compacted day.
Also the time to write the files (what the writer pays per flush). Figures print at the end and go to
bench/results/log_compaction.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from adapters.churn.generator import generate_customers
from adapters.churn.schema import FEATURE_NAMES
from gateway.logcontract.atomic import write_parquet
from gateway.logcontract.compact import CompactionPolicy, compact_log
from gateway.logcontract.layout import part_file_name, partition_folder
from gateway.logcontract.listing import open_log
from gateway.logcontract.rows import as_log_table
from gateway.logcontract.schemas import PREDICTION_LOG
from gateway.logcontract.window import read_window

DAY = datetime(2025, 3, 9, tzinfo=UTC)


def _say(message: str) -> None:
    print(f"[log-compaction-bench] {message}", file=sys.stderr, flush=True)


def write_day(log: Path, hours: int, flush_s: float, per_flush: int) -> tuple[int, float]:
    """One writer file per flush interval; returns (files, seconds spent writing)."""
    n_files = int(hours * 3600 / flush_s)
    pool = generate_customers(per_flush * 64, seed=1)
    base = as_log_table(
        PREDICTION_LOG,
        pool.assign(
            ts=DAY,
            request_id="x",
            tenant="acme",
            churn_probability=np.linspace(0, 1, len(pool)),
            prediction="no",
        ),
    )
    fs, root = open_log(str(log))
    folder = f"{root}/{partition_folder(DAY.date(), 'model_version', 'v1')}"
    ts_type = PREDICTION_LOG.schema.field("ts").type
    started = time.perf_counter()
    for i in range(n_files):
        at = DAY + timedelta(seconds=i * flush_s)
        chunk = base.slice((i % 64) * per_flush, per_flush)
        stamps = [at - timedelta(milliseconds=per_flush - k) for k in range(per_flush)]
        chunk = chunk.set_column(0, "ts", pa.array(stamps, ts_type))
        chunk = chunk.set_column(1, "request_id", pa.array([f"{i}-{k}" for k in range(per_flush)]))
        write_parquet(fs, folder, part_file_name(int(at.timestamp() * 1000)), chunk)
        if (i + 1) % 5000 == 0:
            _say(f"{i + 1:,}/{n_files:,} files")
    return n_files, time.perf_counter() - started


def timed_read(log: Path) -> dict[str, Any]:
    best: dict[str, Any] = {}
    for _ in range(2):
        t0 = time.perf_counter()
        win = read_window(
            str(log), days=1, end=DAY + timedelta(days=1), columns=list(FEATURE_NAMES), max_rows=200_000
        )
        best = {
            "wall_s": round(time.perf_counter() - t0, 3),
            "rows": win.n_rows_total,
            "files": len(win.files),
        }
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.log_compaction_bench", description=__doc__.splitlines()[0]
    )
    p.add_argument("--hours", type=float, default=24)
    p.add_argument("--flush-seconds", type=float, default=2.0)
    p.add_argument("--rows-per-flush", type=int, default=20)
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="modelgate-compaction-bench-"))
    try:
        log = tmp / "log"
        files, write_s = write_day(log, args.hours, args.flush_seconds, args.rows_per_flush)
        _say(f"wrote {files:,} files in {write_s:.1f} s; reading")
        before = timed_read(log)
        t0 = time.perf_counter()
        report = compact_log(
            str(log), PREDICTION_LOG, before=DAY + timedelta(days=2), policy=CompactionPolicy(), now=DAY
        )
        compact_s = time.perf_counter() - t0
        after = timed_read(log)
        results = {
            "hours": args.hours,
            "flush_seconds": args.flush_seconds,
            "rows_per_flush": args.rows_per_flush,
            "files_before": files,
            "files_after": report.files_after,
            "write_ms_per_file": round(1000 * write_s / files, 2),
            "compaction_s": round(compact_s, 1),
            "read_uncompacted": before,
            "read_compacted": after,
            "read_speedup": round(before["wall_s"] / after["wall_s"], 1) if after["wall_s"] else None,
        }
        out = Path(__file__).resolve().parent / "results" / "log_compaction.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=2))
        print(json.dumps(results, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
