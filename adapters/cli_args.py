"""The command-line kit every `modelgate` subcommand parses its arguments with.

Bad usage is answered with ONE line on stderr naming the argument, and exit code 2, never argparse's
usage block; `--help` prints the help and gives 0:

    parser = OneLineParser(prog="modelgate performance", description="...")
    parser.add_argument("--days", type=positive_int, help="how far back to look (default: 90)")
    parser.add_argument("--end", type=iso_datetime)
    args = parse_or_exit_code(parser, argv)
    if isinstance(args, int):  # a usage error (2, its line printed) or --help (0)
        return args

Help style: `prog` is the whole command (`modelgate churn`); subparsers inherit the class, so their
errors start with `modelgate churn train: `; each option's help ends with its default, `(default: X)`;
a description may be a docstring-shaped block (its line breaks are kept). Checks that need more than one
argument raise `UsageError("<prog>: <message>")` after parsing, which `parse_or_exit_code`'s callers
print the same way.

It lives in `adapters` because that is the package every other one (gateway, monitoring, evals) may
import while it imports none of theirs (DESIGN.md: dependencies point one way), so the adapters' own
commands (`churn train`, `vllm-sim`) use it too. Standard library only: the commands import it before
pandas, scikit-learn or Evidently, so `--help` and a usage error answer at once.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

__all__ = [
    "OneLineParser",
    "UsageError",
    "iso_datetime",
    "non_negative_float",
    "non_negative_int",
    "one_line",
    "parse_or_exit_code",
    "port_number",
    "positive_int",
    "probability",
]


class UsageError(Exception):
    """Bad command-line usage; the message is the one line printed."""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise `UsageError("<prog>: <message>")` instead of exiting."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Descriptions are often a module docstring: keep its line breaks and indented examples.
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    # argparse prints the whole usage block on an error; a modelgate command prints one line and exits 2.
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def parse_or_exit_code(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> argparse.Namespace | int:
    """The parsed arguments (argv None: sys.argv[1:]), or the exit code when there is nothing to run.

    A UsageError prints its one line on stderr and gives 2; `--help` has printed the help and gives 0.
    """
    try:
        return parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help has printed the help
        return exc.code if isinstance(exc.code, int) else 0


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _finite_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An argparse `type=`: a whole number >= 1."""
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse `type=`: a whole number >= 0 (a seed, a count that may be zero)."""
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def non_negative_float(text: str) -> float:
    """An argparse `type=`: a finite number >= 0 (a delay, a duration)."""
    value = _finite_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value:g}")
    return value


def probability(text: str) -> float:
    """An argparse `type=`: a share or probability in [0, 1]."""
    value = _finite_number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value:g}")
    return value


def port_number(text: str) -> int:
    """An argparse `type=`: a TCP port, 0-65535 (0: the system picks a free one)."""
    value = _whole_number(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535, got {value}")
    return value


def iso_datetime(text: str) -> datetime:
    """An argparse `type=`: an ISO 8601 instant; a naive one is UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date/time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def one_line(exc: BaseException) -> str:
    """The exception's message with its white space folded onto one line, or its type name if it has none."""
    return " ".join(str(exc).split()) or type(exc).__name__
