"""Wall time and peak memory of `modelgate drift data` on a 7-day, 7M-row log, against the lesson's way.

    python -m bench.drift_bench [--rows 7000000] [--cache DIR] [--lesson-timeout 900] [--skip-lesson]

What runs, each as a subprocess timed from spawn to exit (start-up and Evidently's import included), with
peak RSS from `os.wait4` (that child and its children only):
1. ours, 7 days: `modelgate drift data --days 7` on the Parquet log (projection, pruning, 200k sample);
2. ours, 1 day: the same command on the last day only (1M rows), the data the lesson's way gets;
3. the lesson's way on that day: JSONL files -> pandas -> `Report([DataDriftPreset()])` on every row,
   HTML saved. It runs on one day (1M rows), not seven: on 7M rows it would need several GB and minutes
   (REFERENCE.md: 5M rows 76 s / 2.9 GB for the Evidently step alone). `--lesson-timeout` caps it.
The ratio printed compares 2 and 3 (same rows); 1 is the goal: < 30 s and < 2 GB on 7M rows.

The log is built once into `--cache` (default `$TMPDIR/modelgate-drift-bench`) and reused: features from
the churn generator, vectorised per day; scores from the generator's TRUE churn probability (the drift job
does not read scores, and the bench should not wait on scoring 7M rows). The artifact is trained on
20,000 rows (the `churn train` default) into the cache.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

END = datetime(2025, 3, 10, tzinfo=UTC)
DAYS = 7
VERSION_FILE = "metadata.json"


@dataclass(frozen=True)
class Measured:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    exit_code: int
    timed_out: bool


def _say(message: str) -> None:
    print(f"[drift-bench] {message}", file=sys.stderr, flush=True)


def _artifact(cache: Path) -> tuple[Path, str]:
    from adapters.churn.train import train_model

    folder = cache / "artifact"
    if not (folder / VERSION_FILE).is_file():
        _say("training the churn artifact (20,000 rows)")
        train_model(folder, rows=20_000, seed=7)
    return folder, str(json.loads((folder / VERSION_FILE).read_text())["version"])


def _day_table(n: int, day: int, day_start: datetime) -> pa.Table:
    """One day of contract rows, built column-wise with numpy/pyarrow (no per-row Python)."""
    from adapters.churn.generator import generate_customers, true_churn_probability

    rng = np.random.default_rng([42, day])
    features = generate_customers(n, seed=10_000 + day)
    offsets = np.sort(rng.integers(0, 86_400_000_000, size=n))
    start_us = int(day_start.timestamp() * 1_000_000)
    ts = pa.array(start_us + offsets, type=pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    scores = true_churn_probability(features)
    tenants = pa.DictionaryArray.from_arrays(
        pa.array(rng.integers(0, 3, size=n), type=pa.int8()), pa.array(["acme", "globex", "initech"])
    ).cast(pa.string())
    table = pa.Table.from_pandas(features, preserve_index=False)
    columns: dict[str, Any] = {
        "ts": ts,
        "request_id": pa.array(np.arange(day * n, (day + 1) * n)).cast(pa.string()),
        "tenant": tenants,
        **{name: table.column(name) for name in table.column_names},
        "churn_probability": pa.array(scores),
        "prediction": pa.array(np.where(scores >= 0.5, "churn", "no_churn")),
    }
    return pa.table(columns)


def _log(cache: Path, rows: int, version: str) -> Path:
    from gateway.logcontract.rows import write_prediction_rows

    folder = cache / f"log-{rows}"
    done = folder / "_COMPLETE"  # '_' files are skipped by the reader
    if done.is_file() and done.read_text() == version:
        return folder
    per_day = rows // DAYS
    for day in range(DAYS):
        started = time.perf_counter()
        day_start = END - timedelta(days=DAYS - day)
        write_prediction_rows(str(folder), _day_table(per_day, day, day_start), version)
        _say(f"log day {day + 1}/{DAYS}: {per_day:,} rows in {time.perf_counter() - started:.1f} s")
    done.write_text(version)
    return folder


def _jsonl(cache: Path, log: Path, version: str) -> tuple[Path, int]:
    """The last day of the log as the lesson logs it: one JSON object per line, 200k lines a file."""
    folder = cache / f"jsonl-{log.name}"
    day = (END - timedelta(days=1)).date().isoformat()
    source = next((log / f"date={day}" / f"model_version={version}").glob("part-*.parquet"))
    n = pq.read_metadata(source).num_rows
    if (folder / "_COMPLETE").is_file():
        return folder, n
    folder.mkdir(parents=True, exist_ok=True)
    for i, batch in enumerate(pq.ParquetFile(source).iter_batches(batch_size=200_000)):
        frame = batch.to_pandas()
        frame["ts"] = frame["ts"].astype(str)
        frame.to_json(folder / f"predictions-{i:03d}.jsonl", orient="records", lines=True)
    (folder / "_COMPLETE").write_text("ok")
    _say(f"wrote {n:,} rows as JSONL for the lesson's way")
    return folder, n


def measure(cmd: list[str], *, timeout: float) -> Measured:
    """Run `cmd`, wall time from spawn to exit, peak RSS of that child alone (os.wait4)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd)
    deadline = started + timeout
    timed_out = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline and not timed_out:
            timed_out = True
            proc.kill()
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from waiting again
    wall = time.perf_counter() - started
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(wall, cpu, usage.ru_maxrss / 1024, proc.returncode, timed_out)


def lesson_main(jsonl_dir: Path, reference: Path, html: Path) -> int:
    """The lesson's way: every JSONL row into pandas, DataDriftPreset on all of it, HTML saved."""
    import pandas as pd

    os.environ.setdefault("DO_NOT_TRACK", "1")
    from evidently import Report
    from evidently.presets import DataDriftPreset

    from adapters.churn.schema import FEATURE_NAMES

    frames = [pd.read_json(path, lines=True) for path in sorted(jsonl_dir.glob("*.jsonl"))]
    current = pd.concat(frames, ignore_index=True)
    ref = pd.read_parquet(reference)
    snapshot = Report([DataDriftPreset()]).run(current[list(FEATURE_NAMES)], ref[list(FEATURE_NAMES)])
    snapshot.save_html(str(html))
    print(f"lesson: {len(current):,} rows, {len(snapshot.dict()['metrics'])} metrics", file=sys.stderr)
    return 0


def _config(cache: Path, log: Path, artifact: Path) -> Path:
    path = cache / f"bench-{log.name}.yaml"
    body = {
        "data_dir": str(cache / "data"),
        "prediction_log": {"uri": str(log)},
        "churn": {"artifact_dir": str(artifact)},
        "jobs": {"results_dir": str(cache / "jobs")},
    }
    path.write_text(json.dumps(body))  # JSON is YAML
    return path


def _ours(config: Path, days: int, out: Path) -> Measured:
    cmd = [sys.executable, "-m", "gateway.cli", "drift", "data", "--config", str(config)]
    cmd += ["--days", str(days), "--end", END.isoformat(), "--json", str(out)]
    return measure(cmd, timeout=900)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.drift_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=7_000_000, help="rows in the 7-day log")
    parser.add_argument(
        "--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "modelgate-drift-bench"
    )
    parser.add_argument(
        "--lesson-timeout", type=float, default=900.0, help="seconds before the lesson's way is cut"
    )
    parser.add_argument("--skip-lesson", action="store_true", help="measure ours only")
    parser.add_argument(
        "--lesson-worker", nargs=3, metavar=("JSONL_DIR", "REFERENCE", "HTML"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.lesson_worker:
        jsonl_dir, reference, html = (Path(p) for p in args.lesson_worker)
        return lesson_main(jsonl_dir, reference, html)

    args.cache.mkdir(parents=True, exist_ok=True)
    artifact, version = _artifact(args.cache)
    log = _log(args.cache, args.rows, version)
    config = _config(args.cache, log, artifact)

    _say(f"ours, {DAYS} days ({args.rows:,} rows)")
    week = _ours(config, DAYS, args.cache / "ours-7d.json")
    summary = json.loads((args.cache / "ours-7d.json").read_text())
    _say("ours, 1 day (the lesson's rows)")
    day = _ours(config, 1, args.cache / "ours-1d.json")
    lesson = None
    if not args.skip_lesson:
        jsonl_dir, n_lesson = _jsonl(args.cache, log, version)
        _say(f"the lesson's way, 1 day ({n_lesson:,} rows): JSONL -> pandas -> DataDriftPreset")
        cmd = [sys.executable, "-m", "bench.drift_bench", "--lesson-worker", str(jsonl_dir)]
        cmd += [str(artifact / "train_reference.parquet"), str(args.cache / "lesson.html")]
        lesson = measure(cmd, timeout=args.lesson_timeout)

    def row(name: str, rows: int, m: Measured) -> str:
        note = " (TIMED OUT)" if m.timed_out else ("" if m.exit_code in (0, 1) else f" (exit {m.exit_code})")
        return f"{name:<37} {rows:>10,} {m.wall_s:>7.1f} s {m.cpu_s:>7.1f} s {m.peak_rss_mb:>7.0f} MB{note}"

    per_day = args.rows // DAYS
    print(f"{'run':<37} {'rows':>10} {'wall':>9} {'CPU':>9} {'peak RSS':>10}")
    print(row("modelgate drift data, 7 days", per_day * DAYS, week))
    print(row("modelgate drift data, 1 day", per_day, day))
    if lesson is not None:
        print(row("lesson: JSONL+pandas+DataDriftPreset", per_day, lesson))
        print(
            f"ratio on the same 1-day rows (lesson / ours): wall {lesson.wall_s / day.wall_s:.1f}x, "
            f"CPU {lesson.cpu_s / day.cpu_s:.1f}x, peak RSS {lesson.peak_rss_mb / day.peak_rss_mb:.1f}x"
        )
    met = "met" if week.wall_s < 30 and week.peak_rss_mb < 2048 else "NOT met"
    print(
        f"7-day run: sampled={summary['sampled']}, {summary['n_current']:,} of "
        f"{summary['n_current_total']:,} rows compared; goal < 30 s wall and < 2048 MB: {met}"
    )
    print(
        f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
        "(wall times depend on it)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
