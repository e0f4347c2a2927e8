"""`modelgate drift data` over a production-size window: 30 days, 100 million logged rows, local Parquet.

    python -m bench.log_window_bench [--rows 100000000] [--days 30] [--cache DIR] [--s3-rows 7000000]

1. Builds (once, into `--cache`) a 30-day prediction log laid out as `modelgate logs compact` leaves it
   with `compaction_period: day`: one file per day and version, sorted by `ts`, 131,072-row groups.
   Rows come from bench/drift_bench.py's vectorised generator.
2. Times `modelgate drift data --days 30` as a subprocess, spawn to exit (Evidently's import included),
   with peak RSS from `os.wait4`. The job draws a seeded uniform sample of `monitoring.drift.max_rows`
   (200,000) rows of the window while streaming the projected columns (docs/drift.md, "Scale").
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
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.drift_bench import END, Measured, _artifact, _day_table, measure


def _say(message: str) -> None:
    print(f"[log-window-bench] {message}", file=sys.stderr, flush=True)


def build_log(uri: str, rows: int, days: int, version: str, *, marker: Path | None) -> float:
    """Write `rows` over `days` (one sorted file per day); return the seconds it took."""
    from gateway.logcontract.rows import write_prediction_rows

    if marker is not None and marker.is_file() and marker.read_text() == f"{rows}:{days}:{version}":
        return 0.0
    started = time.perf_counter()
    per_day = rows // days
    for day in range(days):
        t0 = time.perf_counter()
        table = _day_table(per_day, day, END - timedelta(days=days - day))
        write_prediction_rows(uri, table, version)
        _say(f"day {day + 1}/{days}: {per_day:,} rows in {time.perf_counter() - t0:.1f} s")
    if marker is not None:
        marker.write_text(f"{rows}:{days}:{version}")
    return time.perf_counter() - started


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
    _say(f"log ready ({_du(log) / 1e9:.2f} GB); running drift data over {args.days} days")
    m, summary = drift(cfg, args.days, args.cache / "drift.json")
    results = {
        "local": {
            "rows": args.rows,
            "days": args.days,
            "files": len(list(log.rglob("*.parquet"))),
            "bytes": _du(log),
            "build_s": round(build_s, 1),
            **_figure(m, summary),
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
