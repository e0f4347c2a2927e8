"""CPU time of a server process, read from `/proc/<pid>/stat` (Linux).

utime + stime there cover every thread of the process (the event loop, the log writer, the OTel batch
exporter), which is what "CPU per request" should charge. Read before and after a measured window:

    before = process_cpu_seconds(pid)
    ...  # the load runs
    cpu_ms_per_request = (process_cpu_seconds(pid) - before) * 1e3 / requests
"""

from __future__ import annotations

import os

__all__ = ["ProcStatError", "cpu_seconds_from_stat", "process_cpu_seconds"]


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
