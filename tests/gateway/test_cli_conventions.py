"""Every `modelgate` subcommand parses with the one CLI kit (adapters/cli_args.py), so all of them answer
bad usage the same way: exit 2 and one line on stderr that starts with the command's name and names the
argument, never argparse's usage block or a traceback; and `--help` exits 0 with a usage line."""

from __future__ import annotations

import pytest

from gateway.cli import SUBCOMMANDS, main


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_an_unknown_option_is_one_line_and_exit_2(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([name, "--no-such-option"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"modelgate {name}"), lines[0]
    # With a required subcommand argparse names that first; otherwise the unknown option itself.
    assert "--no-such-option" in lines[0] or "required" in lines[0], lines[0]
    assert captured.out == ""


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_help_exits_0(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([name, "--help"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"usage: modelgate {name}"), captured.out[:200]
    assert captured.err == ""
