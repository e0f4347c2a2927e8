"""Section 4, drift: runs `bench.drift_bench` (written and owned separately) when the module exists.

Its table goes to stdout as it prints it, and is also kept, line by line, in the results file.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from bench.load import load_average
from bench.report import heading

__all__ = ["run"]

MODULE = "bench.drift_bench"


class _Tee(io.TextIOBase):
    """Writes to the real stdout and keeps a copy."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.copy = io.StringIO()

    def write(self, text: str) -> int:
        self._out.write(text)
        return self.copy.write(text)

    def flush(self) -> None:
        self._out.flush()


def run(args: Sequence[str]) -> dict[str, Any]:
    print(
        heading("drift: modelgate drift data vs the lesson's way", load_average(), os.cpu_count()), flush=True
    )
    if importlib.util.find_spec(MODULE) is None:
        print(f"skipped: {MODULE} does not exist")
        return {"skipped": f"{MODULE} missing"}
    module = importlib.import_module(MODULE)
    tee = _Tee(sys.stdout)
    started = time.perf_counter()
    with contextlib.redirect_stdout(tee):
        # An explicit list: with None, its argparse would read the bench's own command line.
        code = int(module.main(list(args)))
    return {
        "exit_code": code,
        "wall_s": time.perf_counter() - started,
        "args": list(args),
        "output": tee.copy.getvalue().splitlines(),
    }
