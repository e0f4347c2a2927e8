"""The `modelgate` command: a thin dispatcher over the subcommands each package owns.

Subcommands are named by import path and loaded only when asked for, so `modelgate serve` never imports
Evidently (15-17 s on its own) and the gateway package never imports monitoring or evals. Each target is a
`main(argv: list[str]) -> int` whose return value is the exit code: 0 healthy, 1 the watched condition was
found (drift, regression, accuracy drop), 2 bad input or usage.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

__all__ = ["JOBS_EXTRA_MODULES", "SUBCOMMANDS", "main"]

# Top-level modules of the `jobs` extra (pyproject.toml) that the gateway image lacks (scipy is in the
# extra too, but scikit-learn installs it anyway).
JOBS_EXTRA_MODULES = frozenset({"evidently", "langfuse", "openai", "croniter", "jsonschema"})

# name -> ("module:function", one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "init": ("gateway.commands.init:main", "write a commented starter modelgate.yaml"),
    "tenants": ("gateway.commands.tenants:main", "manage tenants and their API keys in the tenant store"),
    "admin": ("gateway.commands.admin:main", "create an admin API key (admin create-key)"),
    "serve": ("gateway.commands.serve:main", "run the gateway under uvicorn"),
    "logs": ("gateway.commands.logs:main", "compact the request logs, apply retention (logs compact)"),
    "churn": ("adapters.churn.cli:main", "train the churn model (churn train)"),
    "vllm-sim": ("adapters.vllm.sim.cli:main", "run the vLLM-compatible simulator"),
    "drift": ("monitoring.drift.cli:main", "data and prediction drift jobs"),
    "labels": ("monitoring.labels.cli:main", "ingest delayed billing labels"),
    "performance": ("monitoring.performance.cli:main", "true and estimated model performance"),
    "eval": ("evals.cli:main", "run eval suites and judge production samples"),
    "schedule": ("monitoring.schedule:main", "run the configured jobs on their cron schedules"),
    "demo": ("monitoring.demo.run:main", "start everything, drive traffic, inject faults, show what fired"),
    "scorecard": ("monitoring.scorecard.cli:main", "simulated month of faults: time to detect, false alarms"),
}


def _usage() -> str:
    width = max(len(n) for n in SUBCOMMANDS)
    lines = ["usage: modelgate <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    lines += ["", "`modelgate <command> --help` describes a command's options."]
    return "\n".join(lines)


def _load(target: str) -> Callable[[list[str]], int]:
    module_name, func_name = target.split(":")
    func: Callable[[list[str]], int] = getattr(importlib.import_module(module_name), func_name)
    return func


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    entry = SUBCOMMANDS.get(name)
    if entry is None:
        print(f"modelgate: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    try:
        return _load(entry[0])(rest)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing not in JOBS_EXTRA_MODULES:
            raise
        # The gateway-only image: say what to install instead of a traceback.
        print(
            f"modelgate {name}: needs the jobs extra (missing {missing}): pip install 'modelgate[jobs]'",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
