"""The command-line kit (adapters/cli_args.py): one-line usage errors, --help, the argument types."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from adapters.cli_args import (
    OneLineParser,
    UsageError,
    iso_datetime,
    non_negative_float,
    non_negative_int,
    one_line,
    parse_or_exit_code,
    port_number,
    positive_int,
    probability,
)


def _parser() -> OneLineParser:
    parser = OneLineParser(prog="modelgate thing", description="First line.\n\n    an indented example")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run it")
    run.add_argument("--count", type=positive_int, default=3, help="how many (default: %(default)s)")
    return parser


@pytest.mark.parametrize(
    ("convert", "good", "expected"),
    [
        (positive_int, "1", 1),
        (positive_int, "+12", 12),
        (non_negative_int, "0", 0),
        (non_negative_float, "0", 0.0),
        (non_negative_float, "2.5", 2.5),
        (probability, "0", 0.0),
        (probability, "1", 1.0),
        (probability, "0.25", 0.25),
        (port_number, "0", 0),
        (port_number, "65535", 65535),
    ],
)
def test_types_accept_their_boundaries(convert: Callable[[str], Any], good: str, expected: object) -> None:
    assert convert(good) == expected


@pytest.mark.parametrize(
    ("convert", "bad", "message"),
    [
        (positive_int, "0", "must be >= 1, got 0"),
        (positive_int, "1.5", "not a whole number: '1.5'"),
        (non_negative_int, "-1", "must be >= 0, got -1"),
        (non_negative_float, "-0.5", "must be >= 0, got -0.5"),
        (non_negative_float, "fast", "not a number: 'fast'"),
        (probability, "1.01", "must be between 0 and 1, got 1.01"),
        (probability, "nan", "must be a finite number, got 'nan'"),
        (port_number, "65536", "must be between 0 and 65535, got 65536"),
        (port_number, "-1", "must be between 0 and 65535, got -1"),
        (iso_datetime, "yesterday", "not an ISO 8601 date/time: 'yesterday'"),
    ],
)
def test_types_refuse_with_a_message(convert: Callable[[str], Any], bad: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(message)):
        convert(bad)


def test_iso_datetime_reads_a_naive_time_as_utc_and_keeps_an_offset() -> None:
    assert iso_datetime("2026-11-26T10:00:00") == datetime(2026, 11, 26, 10, tzinfo=UTC)
    aware = iso_datetime("2026-11-26T10:00:00+02:00")
    assert aware.utcoffset() == timedelta(hours=2) and aware.tzinfo == timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        ([], "modelgate thing: the following arguments are required: command"),
        (["run", "--count", "0"], "modelgate thing run: argument --count: must be >= 1, got 0"),
        (["run", "--nope"], "modelgate thing: unrecognized arguments: --nope"),
    ],
)
def test_a_usage_error_is_one_line_naming_the_command_and_exit_2(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert parse_or_exit_code(_parser(), argv) == 2
    captured = capsys.readouterr()
    assert captured.err == line + "\n" and captured.out == ""


def test_help_gives_0_and_keeps_a_docstring_layout(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_or_exit_code(_parser(), ["--help"]) == 0
    assert "First line.\n\n    an indented example\n" in capsys.readouterr().out
    assert parse_or_exit_code(_parser(), ["run", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: modelgate thing run ") and "how many (default: 3)" in out


def test_parsed_arguments_come_back_as_a_namespace() -> None:
    args = parse_or_exit_code(_parser(), ["run", "--count", "5"])
    assert isinstance(args, argparse.Namespace) and (args.command, args.count) == ("run", 5)


def test_the_parser_raises_usage_error_rather_than_exiting() -> None:
    with pytest.raises(UsageError, match=r"^modelgate thing run: argument --count: not a whole number"):
        _parser().parse_args(["run", "--count", "x"])


def test_one_line_folds_white_space_and_names_a_silent_exception() -> None:
    assert one_line(ValueError("bad\n   value\there")) == "bad value here"
    assert one_line(KeyError()) == "KeyError"
