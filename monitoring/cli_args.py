"""Argument and error plumbing the monitoring job CLIs share (`drift`, `labels`, `performance`).

A job CLI answers bad usage with ONE line on stderr and exit code 2, never argparse's usage block:

    parser = OneLineParser(prog="modelgate performance")
    parser.add_argument("--days", type=positive_int)
    parser.add_argument("--end", type=iso_datetime)
    args = parse_or_exit_code(parser, argv)
    if isinstance(args, int):  # a usage error (2, its line printed) or --help (0)
        return args

Standard library only: the CLIs import this before pandas or Evidently, so `--help` answers at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NoReturn

__all__ = ["OneLineParser", "UsageError", "iso_datetime", "one_line", "parse_or_exit_code", "positive_int"]


class UsageError(Exception):
    """Bad command-line usage; the message is the one line printed."""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise `UsageError("<prog>: <message>")` instead of exiting."""

    # argparse prints the whole usage block on an error; a job CLI prints one line and exits 2.
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


def positive_int(text: str) -> int:
    """An argparse `type=`: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
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
