"""`modelgate scorecard`: replay a compressed month with injected faults through the project's real rules.

    modelgate scorecard [--days 30] [--seed S ...] [--json PATH] [--markdown PATH] [--artifact DIR]
                        [--ops-only] [--for-override DURATION] [--live]

Per seed: the month's series (monitoring/scorecard/ops.py, ml.py; the ML faults run the jobs' own
functions on each simulated day's data), evaluated by `promtool test rules` with recording_rules.yml and
alerts.yml as shipped, scored (monitoring/scorecard/score.py). Exit 0 when every fault met its goal and
false alarms are within one per month for every seed, 1 otherwise, 2 on bad input (one line on stderr).
The JSON (docs/scorecard.md) goes to stdout unless --json names a file.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adapters.cli_args import OneLineParser, parse_or_exit_code, positive_int

__all__ = ["main", "run_month"]

PROG = "modelgate scorecard"


def _days(text: str) -> int:
    value = positive_int(text)
    if not 2 <= value <= 60:
        raise argparse.ArgumentTypeError(f"must be between 2 and 60, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog=PROG, description="Faults injected, time to detect, false alarms.")
    p.add_argument("--days", type=_days, default=30, help="length of the simulated month (default 30)")
    p.add_argument("--seed", type=int, action="append", help="seed (repeat for several; default 1)")
    p.add_argument("--json", type=Path, metavar="PATH", help="write the JSON here instead of stdout")
    p.add_argument("--markdown", type=Path, metavar="PATH", help="also write the tables as Markdown")
    p.add_argument("--artifact", type=Path, help="churn artifact for the drift jobs (default: train one)")
    p.add_argument("--ops-only", action="store_true", help="skip the model-validity faults (no Evidently)")
    p.add_argument("--for-override", metavar="DURATION", help="replace every alert's `for:` (experiments)")
    p.add_argument(
        "--live", action="store_true", help="also run the 20%% error spike live and compare (about 5 min)"
    )
    return p


def _say(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def run_month(
    days: int, seed: int, *, artifact: Path | None, ops_only: bool, for_override: str | None = None
) -> dict[str, Any]:
    """One seed's month: series, promtool, score."""
    from monitoring.scorecard.faults import ops_faults
    from monitoring.scorecard.ops import ops_series
    from monitoring.scorecard.promtool import evaluate
    from monitoring.scorecard.score import plan, score

    started = time.monotonic()
    faults = ops_faults(days)
    store = ops_series(days, seed, faults)
    deadlines: dict[str, float] = {}
    notes: dict[str, str] = {}
    if not ops_only:
        from monitoring.scorecard import ml

        assert artifact is not None
        ml_faults = ml.ml_faults(days)
        _say(f"seed {seed}: running the drift and eval jobs on {days} simulated days")
        ml.ml_series(days, seed, ml.load_reference(artifact), ml_faults, store, say=lambda _m: None)
        from monitoring.scorecard.accuracy import accuracy_faults, accuracy_series

        auc_faults = accuracy_faults(days)
        notes = accuracy_series(days, seed, artifact, auc_faults, store)
        ml_faults = [*ml_faults, *auc_faults]
        exhausted = ml.exhaustion_minute(ml_faults, store.minutes)
        burn = next(f for f in ml_faults if f.kind == "budget_burn")
        if exhausted is not None:
            deadlines[burn.name] = 60.0 * (exhausted - burn.start)
        faults = [*faults, *ml_faults]
    else:
        from monitoring.scorecard.ml import JOB_INTERVALS  # calm job series keep MonitoringJobStale quiet

        _calm_jobs(store, JOB_INTERVALS)
    _say(f"seed {seed}: {len(store.series)} series x {store.minutes:,} minutes -> promtool test rules")
    answers = evaluate(store, plan(faults, store.minutes), for_override=for_override)
    card = score(
        faults, answers, days=days, seed=seed, minutes=store.minutes, deadlines=deadlines, notes=notes
    )
    card["elapsed_seconds"] = round(time.monotonic() - started, 1)
    card["ops_only"] = ops_only
    return card


def _calm_jobs(store: Any, intervals: dict[str, int]) -> None:
    import numpy as np

    for job, every in intervals.items():
        values = np.full(store.minutes, np.nan)
        for m in range(5, store.minutes, every):
            values[m:] = 60.0 * m
        store.gauge("modelgate_job_last_success_timestamp_seconds", {"job": job}, values)
    store.gauge("up", {"job": "pushgateway", "instance": "127.0.0.1:9091"}, np.ones(store.minutes))


def _artifact(args: argparse.Namespace, tmp: Path) -> Path | None:
    if args.ops_only:
        return None
    if args.artifact is not None:
        if not (args.artifact / "train_reference.parquet").is_file():
            raise ValueError(f"--artifact {args.artifact} has no train_reference.parquet")
        return Path(args.artifact)
    from adapters.churn.train import train_model

    _say("training a churn artifact for the drift jobs (--artifact skips this)")
    train_model(tmp / "churn", rows=20_000, seed=7)
    return tmp / "churn"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_or_exit_code(build_parser(), argv)
    if isinstance(args, int):  # a usage error (2, its one line printed) or --help (0)
        return args
    from monitoring.scorecard.promtool import PromtoolError
    from monitoring.scorecard.score import markdown

    seeds = args.seed or [1]
    with tempfile.TemporaryDirectory(prefix="modelgate-scorecard-") as tmp:
        try:
            artifact = _artifact(args, Path(tmp))
            cards = [
                run_month(
                    args.days, s, artifact=artifact, ops_only=args.ops_only, for_override=args.for_override
                )
                for s in seeds
            ]
        except (ValueError, OSError, PromtoolError) as exc:
            _say(f"error: {exc}")
            return 2
    body = {"seeds": seeds, "cards": cards, "met": all(c["met"] for c in cards), **cards[0]}
    if args.live:
        from monitoring.scorecard.live import live_error_spike

        _say("the 20% error spike, live: simulator, gateway, Prometheus (about 5 minutes)")
        body["live"] = live_error_spike(0.2)
        _say(f"live: {body['live']}")
    text = json.dumps(body, indent=2, sort_keys=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    table = markdown(cards)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(table, encoding="utf-8")
    print(table, file=sys.stderr)
    return 0 if body["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
