"""`modelgate schedule`: run the configured jobs on cron schedules (the embedded stand-in for CronJobs).

    schedule:
      drift_data: {cron: "0 * * * *", command: ["drift", "data"]}
      eval_core:  {cron: "30 3 * * *", command: ["eval", "run", "core"]}

    modelgate schedule [--config FILE]            # run forever, launching each job when its cron line fires
    modelgate schedule --once eval_core           # run one job now, in the foreground; exit with its code
    modelgate schedule --dry-run                  # print each job's command and next three fire times

Each job runs as a subprocess `modelgate <command…> --config <same config>` (through this interpreter, so
it works inside a venv that is not on PATH); its exit code is logged. A job still running when its next
time comes is skipped (logged), never run twice at once. Cron lines are read in UTC.

Cron lines are evaluated by croniter (https://github.com/pallets-eco/croniter): five fields — minute
hour day-of-month month day-of-week — each `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, or a
comma list of those; month and weekday names (`jan`, `mon`), 7 for Sunday and the `@hourly`, `@daily`,
`@weekly`, `@monthly`, `@yearly` macros. As in Vixie cron (croniter's `day_or`), when both day fields are
restricted a day matching EITHER fires. This module keeps only the small loop that launches the jobs.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterNotAlphaError, croniter

from adapters.cli_args import OneLineParser, parse_or_exit_code

__all__ = ["CronError", "CronSpec", "Job", "Scheduler", "main", "next_fire", "parse_cron", "parse_schedule"]

log = logging.getLogger("modelgate.schedule")

_FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")
_FULL = {
    0: frozenset(range(60)),
    1: frozenset(range(24)),
    2: frozenset(range(1, 32)),
    3: frozenset(range(1, 13)),
    4: frozenset(range(7)),
}


class CronError(ValueError):
    """A cron line that cannot be parsed, or that never fires; the message names the field."""


@dataclass(frozen=True)
class CronSpec:
    """A parsed cron line: the expression croniter evaluates, and each field's values (for display)."""

    expr: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday

    def matches(self, t: datetime) -> bool:
        return bool(croniter.match(self.expr, t, day_or=True))


def _field_problem(parts: list[str]) -> str:
    """Which field croniter refused, found by trying each one alone (croniter's message names none)."""
    for i, (name, part) in enumerate(zip(_FIELD_NAMES, parts, strict=True)):
        probe = ["*"] * 5
        probe[i] = part
        try:
            croniter.expand(" ".join(probe))
        except (CroniterBadCronError, CroniterNotAlphaError, ValueError):
            return f"{name}: {part!r} is not valid"
    return "not valid"


def parse_cron(expr: str) -> CronSpec:
    """Parse a five-field cron line (or an @macro) with croniter. Raises CronError."""
    text = expr.strip()
    parts = text.split()
    if not text.startswith("@") and len(parts) != 5:
        raise CronError(
            f"cron line {expr!r} needs 5 fields (minute hour day month weekday), got {len(parts)}"
        )
    try:
        fields, _ = croniter.expand(text)
    except (CroniterBadCronError, CroniterNotAlphaError, ValueError) as exc:
        problem = _field_problem(parts) if len(parts) == 5 else str(exc)
        raise CronError(f"cron line {expr!r}: {problem}") from None
    sets = [
        _FULL[i] if values == ["*"] else frozenset(int(v) % 7 if i == 4 else int(v) for v in values)
        for i, values in enumerate(fields)
    ]
    return CronSpec(text, *sets)


def next_fire(spec: CronSpec, after: datetime) -> datetime:
    """The first minute strictly after `after` that the line fires at (same tz as `after`)."""
    try:
        fire: datetime = croniter(spec.expr, after, day_or=True).get_next(datetime)
    except CroniterBadDateError:
        raise CronError(f"cron line {spec.expr!r} never fires") from None
    return fire


@dataclass(frozen=True)
class Job:
    name: str
    cron: CronSpec
    command: tuple[str, ...]


def parse_schedule(section: Mapping[str, Any]) -> list[Job]:
    """The jobs of the `schedule:` section. Raises CronError with a one-line message naming the job."""
    jobs = []
    for name, body in section.items():
        where = f"schedule.{name}"
        if not isinstance(body, dict):
            raise CronError(f"{where} must be a mapping with cron and command")
        unknown = sorted(set(body) - {"cron", "command"})
        if unknown:
            raise CronError(f"{where}: unknown key {unknown[0]!r}")
        if not isinstance(body.get("cron"), str):
            raise CronError(f"{where}.cron must be a cron line string")
        command = body.get("command")
        if isinstance(command, str):
            command = shlex.split(command)
        if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command):
            raise CronError(f"{where}.command must be a non-empty list of strings, e.g. [drift, data]")
        if command[0] == "modelgate" or "--config" in command:
            raise CronError(f"{where}.command: give the subcommand only; `modelgate` and --config are added")
        try:
            spec = parse_cron(body["cron"])
            next_fire(spec, datetime(2000, 1, 1, tzinfo=UTC))
        except CronError as exc:
            raise CronError(f"{where}.cron: {exc}") from None
        jobs.append(Job(str(name), spec, tuple(command)))
    return jobs


def job_argv(job: Job, config_path: Path) -> list[str]:
    """`modelgate <command…> --config <path>`, run by this interpreter."""
    return [sys.executable, "-m", "gateway.cli", *job.command, "--config", str(config_path)]


def _shown(job: Job, config_path: Path) -> str:
    return shlex.join(["modelgate", *job.command, "--config", str(config_path)])


@dataclass
class Scheduler:
    """Launches due jobs as subprocesses and reaps them; `tick(now)` is one step of the loop."""

    jobs: Sequence[Job]
    config_path: Path
    make_argv: Callable[[Job, Path], list[str]] = job_argv
    running: dict[str, tuple[subprocess.Popen[bytes], float]] = field(default_factory=dict)
    next_at: dict[str, datetime] = field(default_factory=dict)
    exit_codes: dict[str, list[int]] = field(default_factory=dict)

    def start(self, now: datetime) -> None:
        self.next_at = {job.name: next_fire(job.cron, now) for job in self.jobs}

    def reap(self) -> None:
        for name, (proc, started) in list(self.running.items()):
            code = proc.poll()
            if code is None:
                continue
            del self.running[name]
            self.exit_codes.setdefault(name, []).append(code)
            level = logging.INFO if code in (0, 1) else logging.ERROR
            log.log(level, "job %s exited %d after %.1fs", name, code, time.monotonic() - started)

    def tick(self, now: datetime) -> list[str]:
        """Reap finished jobs, launch the due ones; return the names launched."""
        self.reap()
        launched = []
        for job in self.jobs:
            if self.next_at[job.name] > now:
                continue
            self.next_at[job.name] = next_fire(job.cron, now)
            if job.name in self.running:
                log.warning("job %s skipped: its previous run is still going", job.name)
                continue
            log.info("job %s starting: %s", job.name, _shown(job, self.config_path))
            proc = subprocess.Popen(self.make_argv(job, self.config_path))
            self.running[job.name] = (proc, time.monotonic())
            launched.append(job.name)
        return launched

    def seconds_to_next(self, now: datetime) -> float:
        return max(0.0, min((t - now).total_seconds() for t in self.next_at.values()))

    def stop(self, grace_s: float = 10.0) -> None:
        """Terminate running jobs, wait up to `grace_s`, then kill."""
        for proc, _ in self.running.values():
            proc.terminate()
        deadline = time.monotonic() + grace_s
        for proc, _ in self.running.values():
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.reap()

    def run(self, stop: threading.Event, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        """Loop until `stop` is set: sleep until the next fire time (waking each second to reap), tick."""
        self.start(clock())
        while not stop.is_set():
            self.tick(clock())
            stop.wait(min(1.0, self.seconds_to_next(clock())) or 0.05)
        self.stop()


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="modelgate schedule", description="Run the configured jobs on cron schedules.")
    p.add_argument("--config", help="modelgate.yaml (default $MODELGATE_CONFIG, then ./modelgate.yaml)")
    p.add_argument(
        "--once", metavar="JOBNAME", help="run this job now, in the foreground, and exit with its code"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print the commands and next fire times; run nothing"
    )
    return p


def _dry_run(jobs: Sequence[Job], config_path: Path, now: datetime) -> None:
    for job in jobs:
        t, times = now, []
        for _ in range(3):
            t = next_fire(job.cron, t)
            times.append(t.strftime("%Y-%m-%d %H:%M"))
        print(f"{job.name}: {job.cron.expr!r} → {_shown(job, config_path)}")
        print(f"    next (UTC): {', '.join(times)}")


def main(argv: Sequence[str] | None = None) -> int:
    from monitoring.config import ConfigFileError, load_monitoring_config

    args = parse_or_exit_code(_parser(), argv)
    if isinstance(args, int):  # a usage error (2, its one line printed) or --help (0)
        return args
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        cfg = load_monitoring_config(args.config)
        jobs = parse_schedule(cfg.schedule)
    except (ConfigFileError, CronError) as exc:
        print(f"modelgate schedule: {exc}", file=sys.stderr)
        return 2
    config_path = (cfg.config_path or Path("modelgate.yaml")).resolve()
    if args.once is not None:
        jobs = [j for j in jobs if j.name == args.once]
        if not jobs:
            print(f"modelgate schedule: no job {args.once!r} in the schedule section", file=sys.stderr)
            return 2
    elif not jobs:
        print("modelgate schedule: the schedule section lists no jobs", file=sys.stderr)
        return 2
    if args.dry_run:
        _dry_run(jobs, config_path, datetime.now(UTC))
        return 0
    if args.once is not None:
        job = jobs[0]
        log.info("job %s starting: %s", job.name, _shown(job, config_path))
        code = subprocess.call(job_argv(job, config_path))
        log.log(logging.INFO if code in (0, 1) else logging.ERROR, "job %s exited %d", job.name, code)
        return code
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        log.info("stopping on signal %d", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("scheduling %d jobs: %s", len(jobs), ", ".join(j.name for j in jobs))
    Scheduler(jobs, config_path).run(stop)
    return 0
