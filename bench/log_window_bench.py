"""`modelgate drift data` over a production-size window: 30 days, 100 million logged rows, local Parquet.

    python -m bench.log_window_bench [--rows 100000000] [--days 30] [--cache DIR] [--s3-rows 7000000]

1. Builds (once, into `--cache`) a 30-day prediction log laid out exactly as `modelgate logs compact`
   leaves it with the default policy: one compacted set per hour and version, sorted by `ts`, and its
   10,000-row sample beside it (`gateway.logcontract.compact.publish_set`, the compactor's own code).
   Rows are drawn vectorised from a pool of 1,000,000 generated customers (`adapters.churn.generator`,
   the training population, so the window is calm), with their own `ts` and `request_id`: no per-row
   Python, about 0.3 s per hour written.
2. Times `modelgate drift data --days 30` as a subprocess, spawn to exit (Evidently's import included),
   with peak RSS from `os.wait4`, twice in the same run: with the samples (the default) and with them
   moved aside, so the reader draws its `monitoring.drift.max_rows` (200,000) rows from every row of
   the window (the baseline; docs/drift.md, "Scale"). Each mode's read alone (`read_window`, in this
   process) is timed too, since Evidently's import and compute are most of a job's time.
3. With `--s3-rows N` (> 0), the same over N rows in a bucket of a loopback S3 server (moto_server),
   through the standard AWS variables.

Goals from issue 14: < 60 s and < 2 GB on 100M local rows; < 90 s on 7M rows on the loopback S3 server.
Figures print at the end and go to bench/results/log_window.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from bench.drift_bench import END, Measured, _artifact, measure


def _say(message: str) -> None:
    print(f"[log-window-bench] {message}", file=sys.stderr, flush=True)


POOL_ROWS = 1_000_000
SAMPLE_ROWS = 10_000  # logs.sample_rows' default
LAYOUT = "hourly-sets-with-samples-v1"  # in the cache marker: a log built another way is rebuilt


def _pool() -> pa.Table:
    """1,000,000 scored customers of the training population, as one Arrow table."""
    from adapters.churn.generator import generate_customers, true_churn_probability

    features = generate_customers(POOL_ROWS, seed=20_000)
    scores = true_churn_probability(features)
    table = pa.Table.from_pandas(features, preserve_index=False)
    table = table.append_column("churn_probability", pa.array(scores))
    return table.append_column("prediction", pa.array(np.where(scores >= 0.5, "churn", "no_churn")))


def _hour_table(pool: pa.Table, n: int, hour: int, hour_start: datetime) -> pa.Table:
    """`n` rows of one hour: pool rows drawn at random, with this hour's `ts` and unique request ids."""
    rng = np.random.default_rng([7, hour])
    rows = pool.take(pa.array(rng.integers(0, pool.num_rows, size=n)))
    start_us = int(hour_start.timestamp() * 1_000_000)
    ts = pa.array(start_us + np.sort(rng.integers(0, 3_600_000_000, size=n)), type=pa.int64())
    tenants = pa.DictionaryArray.from_arrays(
        pa.array(rng.integers(0, 3, size=n), type=pa.int8()), pa.array(["acme", "globex", "initech"])
    ).cast(pa.string())
    rows = rows.append_column("ts", ts.cast(pa.timestamp("us", tz="UTC")))
    rows = rows.append_column("request_id", pa.array(np.arange(hour * n, (hour + 1) * n)).cast(pa.string()))
    return rows.append_column("tenant", tenants)


def build_log(uri: str, rows: int, days: int, version: str, *, marker: Path | None) -> float:
    """Write `rows` over `days` as hourly compacted sets with samples; return the seconds it took."""
    from gateway.logcontract.compact import CompactionPolicy, publish_set
    from gateway.logcontract.layout import partition_folder
    from gateway.logcontract.listing import open_log
    from gateway.logcontract.rows import as_log_table
    from gateway.logcontract.schemas import PREDICTION_LOG

    stamp = f"{rows}:{days}:{version}:{LAYOUT}"
    if marker is not None and marker.is_file() and marker.read_text() == stamp:
        return 0.0
    started = time.perf_counter()
    pool = _pool()
    fs, root = open_log(uri)
    policy = CompactionPolicy(sample_rows=SAMPLE_ROWS)
    hours = days * 24
    per_hour = rows // hours
    first = END - timedelta(days=days)
    for hour in range(hours):
        hour_start = first + timedelta(hours=hour)
        table = as_log_table(PREDICTION_LOG, _hour_table(pool, per_hour, hour, hour_start))
        folder = f"{root}/{partition_folder(hour_start.date(), 'model_version', version)}"
        start_ms = int(hour_start.timestamp() * 1000)
        # sources=1 and no input size: one file per hour, as compaction of a day's flushes leaves it.
        publish_set(fs, folder, PREDICTION_LOG, start_ms, start_ms + 3_600_000, table, 1, policy, 0)
        if hour % 24 == 23:
            done = time.perf_counter() - started
            _say(f"day {(hour + 1) // 24}/{days}: {per_hour * 24:,} rows ({done:.0f} s so far)")
    if marker is not None:
        marker.write_text(stamp)
    return time.perf_counter() - started


def _read_only(log: Path, days: int) -> dict[str, float]:
    """The job's read alone, in this process: wall and CPU seconds of `read_window` (200,000 rows)."""
    from adapters.churn.schema import FEATURE_NAMES
    from gateway.logcontract.window import read_window

    wall, cpu = time.perf_counter(), time.process_time()
    win = read_window(str(log), days=days, end=END, columns=list(FEATURE_NAMES), max_rows=200_000)
    assert win.n_rows == 200_000
    return {
        "read_wall_s": round(time.perf_counter() - wall, 2),
        "read_cpu_s": round(time.process_time() - cpu, 2),
        "read_rows_from_samples": win.rows_from_samples,
    }


def _set_samples_aside(log: Path, aside: Path) -> int:
    """Move every compaction sample out of the log (the baseline reads rows); return how many."""
    moved = 0
    for path in sorted(log.rglob("_sample-*.sample")):
        target = aside / path.relative_to(log)
        target.parent.mkdir(parents=True, exist_ok=True)
        path.rename(target)
        moved += 1
    return moved


def _put_samples_back(log: Path, aside: Path) -> None:
    for path in sorted(aside.rglob("_sample-*.sample")):
        path.rename(log / path.relative_to(aside))


def _config(path: Path, log_uri: str, artifact: Path, data: Path) -> Path:
    body = {
        "data_dir": str(data),
        "prediction_log": {"uri": log_uri},
        "churn": {"artifact_dir": str(artifact)},
        "jobs": {"results_dir": str(data / "jobs")},
    }
    path.write_text(json.dumps(body))
    return path


def drift(config: Path, days: int, out: Path) -> tuple[Measured, dict[str, Any]]:
    cmd = [sys.executable, "-m", "gateway.cli", "drift", "data", "--config", str(config)]
    cmd += ["--days", str(days), "--end", END.isoformat(), "--json", str(out)]
    m = measure(cmd, timeout=1800)
    summary = json.loads(out.read_text()) if out.is_file() else {}
    return m, summary


def _du(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.parquet"))


def _figure(m: Measured, summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "wall_s": round(m.wall_s, 1),
        "cpu_s": round(m.cpu_s, 1),
        "peak_rss_mb": round(m.peak_rss_mb),
        "exit_code": m.exit_code,
        "rows_in_window": summary.get("n_current_total"),
        "rows_sampled": summary.get("n_current"),
        "rows_from_compaction_samples": summary.get("n_current_from_samples"),
        "verdict": summary.get("verdict"),
    }


def _s3(args: argparse.Namespace, artifact: Path, version: str, tmp: Path) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from s3_server import start_s3_server

    server_gen = start_s3_server(tmp)
    server = next(server_gen)
    try:
        os.environ.update(server.env)
        bucket = server.new_bucket()
        uri = f"s3://{bucket}/logs/predictions"
        days = 7
        write_s = build_log(uri, args.s3_rows, days, version, marker=None)
        cfg = _config(tmp / "s3.yaml", uri, artifact, tmp / "s3-data")
        m, summary = drift(cfg, days, tmp / "s3-drift.json")
        return {"rows": args.s3_rows, "days": days, "build_s": round(write_s, 1), **_figure(m, summary)}
    finally:
        server_gen.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.log_window_bench", description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=100_000_000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--s3-rows", type=int, default=0, help="also measure on a loopback S3 server (0 = skip)")
    p.add_argument("--s3-only", action="store_true", help="skip the local measurement")
    p.add_argument(
        "--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "modelgate-log-window-bench"
    )
    args = p.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    artifact, version = _artifact(args.cache)
    results: dict[str, Any] = {}
    if args.s3_only:
        with tempfile.TemporaryDirectory(prefix="modelgate-s3-bench-") as tmp:
            results["s3"] = _s3(args, artifact, version, Path(tmp))
        print(json.dumps(results, indent=2))
        return 0
    log = args.cache / f"log-{args.rows}-{args.days}d"
    log.mkdir(exist_ok=True)
    build_s = build_log(str(log), args.rows, args.days, version, marker=log / "_COMPLETE")
    cfg = _config(args.cache / "local.yaml", str(log), artifact, args.cache / "data")
    # Not measured: one import of Evidently first, so neither measured run pays for a cold page cache.
    measure([sys.executable, "-c", "import evidently"], timeout=300)
    _say(f"log ready ({_du(log) / 1e9:.2f} GB); running drift data over {args.days} days, with samples")
    m, summary = drift(cfg, args.days, args.cache / "drift.json")
    read_samples = _read_only(log, args.days)
    aside = args.cache / "samples-aside"
    moved = _set_samples_aside(log, aside)
    try:
        _say(f"{moved} samples set aside; running drift data again, reading rows (the baseline)")
        base_m, base_summary = drift(cfg, args.days, args.cache / "drift-rows.json")
        read_rows = _read_only(log, args.days)
    finally:
        _put_samples_back(log, aside)
    with_samples = {**_figure(m, summary), **read_samples}
    reading_rows = {**_figure(base_m, base_summary), **read_rows}
    results = {
        "local": {
            "rows": args.rows,
            "days": args.days,
            "files": len(list(log.rglob("*.parquet"))),
            "samples": moved,
            "bytes": _du(log),
            "sample_bytes": sum(p.stat().st_size for p in log.rglob("_sample-*.sample")),
            "build_s": round(build_s, 1),
            "with_samples": with_samples,
            "reading_rows": reading_rows,
            "wall_ratio_rows_over_samples": round(base_m.wall_s / m.wall_s, 2),
            "cpu_ratio_rows_over_samples": round(base_m.cpu_s / m.cpu_s, 2),
            "read_wall_ratio_rows_over_samples": round(
                read_rows["read_wall_s"] / read_samples["read_wall_s"], 1
            ),
            "load_average_1m": round(os.getloadavg()[0], 1),
        }
    }
    if args.s3_rows:
        with tempfile.TemporaryDirectory(prefix="modelgate-s3-bench-") as tmp:
            results["s3"] = _s3(args, artifact, version, Path(tmp))
    out = Path(__file__).resolve().parent / "results" / "log_window.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
