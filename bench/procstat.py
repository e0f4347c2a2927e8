"""CPU time of a server process, read from `/proc/<pid>/stat` (Linux).

utime + stime there cover every thread of the process (the event loop, the log writer, the OTel batch
exporter), and `tree_cpu_seconds` adds the processes it started and still runs (a peer's workers, a
helper process of ours): together what "CPU per request" should charge. Read before and after a
measured window:

    before = tree_cpu_seconds(pid)
    ...  # the load runs
    cpu_ms_per_request = (tree_cpu_seconds(pid) - before) * 1e3 / requests

Only descendants alive at both reads are charged exactly. One started inside the window is charged all
it used (all of it falls in the window); one that exits inside it takes its earlier use out of the sum,
so the difference undercounts. The servers measured here keep their children for their whole run.
"""

from __future__ import annotations

import contextlib
import os

__all__ = ["ProcStatError", "cpu_seconds_from_stat", "descendants", "process_cpu_seconds", "tree_cpu_seconds"]


class ProcStatError(RuntimeError):
    """The stat line could not be read or parsed."""


def cpu_seconds_from_stat(stat_line: str, clock_ticks: int) -> float:
    """utime + stime in seconds from the text of `/proc/<pid>/stat`.

    The command name (field 2) is in parentheses and may itself hold spaces and ')', so the fields are
    counted from the LAST ')'; utime and stime are fields 14 and 15 (proc(5)).
    """
    end = stat_line.rfind(")")
    if end < 0:
        raise ProcStatError("no ')' closing the command name in the stat line")
    rest = stat_line[end + 1 :].split()
    # rest[0] is field 3 (state), so field n is rest[n - 3].
    try:
        utime, stime = int(rest[11]), int(rest[12])
    except (IndexError, ValueError):
        raise ProcStatError("stat line too short or not numeric at utime/stime") from None
    return (utime + stime) / clock_ticks


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process `pid` (all its threads) has used so far."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            line = fh.read()
    except OSError as exc:
        raise ProcStatError(f"cannot read /proc/{pid}/stat: {exc.strerror}") from exc
    return cpu_seconds_from_stat(line, os.sysconf("SC_CLK_TCK"))


def descendants(pid: int) -> list[int]:
    """The live processes below `pid`, at any depth (`/proc/<pid>/task/<tid>/children`, Linux 3.5+)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue  # exited meanwhile
        for tid in tasks:
            try:
                with open(f"/proc/{parent}/task/{tid}/children", encoding="ascii") as fh:
                    children = [int(c) for c in fh.read().split()]
            except OSError:
                continue
            found.extend(children)
            pending.extend(children)
    return found


def tree_cpu_seconds(pid: int) -> float:
    """`process_cpu_seconds` of `pid` plus that of every live descendant (see the module docstring)."""
    total = process_cpu_seconds(pid)
    for child in descendants(pid):
        with contextlib.suppress(ProcStatError):  # exited between the listing and the read
            total += process_cpu_seconds(child)
    return total
