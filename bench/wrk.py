"""Drive `wrk` (Debian package `wrk`) with a Lua script for POST bodies and parse what it prints.

wrk runs as its own process, so the load generator never shares an interpreter with the server measured.
`--latency` makes it print the latency distribution; the parse reads the human-readable report (the
format of wrk 4.x), which is also what a reader of the logs sees:

    script = write_post_script(path, body='{"a": 1}', headers={"Authorization": "Bearer k"})
    result = run_wrk("http://127.0.0.1:8000/v1/churn/predict", script, connections=32, seconds=10)
    result.ok_rps, result.p50_ms, result.p99_ms
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "WrkError",
    "WrkResult",
    "lua_string",
    "parse_duration_s",
    "parse_wrk_output",
    "run_wrk",
    "write_post_script",
    "wrk_path",
]

WRK_PACKAGE = "wrk"  # the Debian package that provides /usr/bin/wrk


class WrkError(RuntimeError):
    """wrk is missing, failed, or printed something this parser does not understand."""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run. Latencies in milliseconds; `requests` counts every response, non-2xx included."""

    requests: int
    duration_s: float
    rps: float
    mean_ms: float
    max_ms: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: dict[str, int]

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())

    @property
    def ok_rps(self) -> float:
        """Successful (2xx/3xx) responses per second: the throughput worth quoting."""
        return (self.requests - self.non_2xx) / self.duration_s


# wrk prints times with these units (src/units.c: time_units_us).
_TIME_UNITS_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_TIME = r"([0-9.]+)(us|ms|s|m|h)"


def parse_duration_s(text: str) -> float:
    """'35.85ms' -> 0.03585. Raises WrkError on anything else."""
    m = re.fullmatch(_TIME, text.strip())
    if m is None:
        raise WrkError(f"not a wrk time: {text!r}")
    return float(m.group(1)) * _TIME_UNITS_S[m.group(2)]


def parse_wrk_output(text: str) -> WrkResult:
    """Parse the report `wrk --latency` prints (wrk 4.x)."""

    def need(pattern: str) -> re.Match[str]:
        m = re.search(pattern, text, flags=re.MULTILINE)
        if m is None:
            raise WrkError(f"wrk output has no line matching {pattern!r}:\n{text.strip()[:2000]}")
        return m

    totals = need(r"^\s*(\d+) requests in " + _TIME + r",")
    stats = need(r"^\s*Latency\s+" + _TIME + r"\s+" + _TIME + r"\s+" + _TIME)
    percentiles: dict[int, float] = {}
    for pct in (50, 75, 90, 99):
        m = need(rf"^\s*{pct}(?:\.0+)?%\s+{_TIME}\s*$")
        percentiles[pct] = parse_duration_s(m.group(1) + m.group(2)) * 1e3
    rps = float(need(r"^Requests/sec:\s+([0-9.]+)").group(1))
    non_2xx_m = re.search(r"^\s*Non-2xx or 3xx responses:\s+(\d+)", text, flags=re.MULTILINE)
    socket_m = re.search(
        r"^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text, flags=re.MULTILINE
    )
    socket_errors = dict.fromkeys(("connect", "read", "write", "timeout"), 0)
    if socket_m is not None:
        socket_errors = dict(zip(socket_errors, (int(g) for g in socket_m.groups()), strict=True))
    return WrkResult(
        requests=int(totals.group(1)),
        duration_s=parse_duration_s(totals.group(2) + totals.group(3)),
        rps=rps,
        mean_ms=parse_duration_s(stats.group(1) + stats.group(2)) * 1e3,
        max_ms=parse_duration_s(stats.group(5) + stats.group(6)) * 1e3,
        p50_ms=percentiles[50],
        p75_ms=percentiles[75],
        p90_ms=percentiles[90],
        p99_ms=percentiles[99],
        non_2xx=int(non_2xx_m.group(1)) if non_2xx_m else 0,
        socket_errors=socket_errors,
    )


def lua_string(value: str) -> str:
    """A double-quoted Lua string literal holding `value` exactly."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def write_post_script(path: Path, *, body: str, headers: Mapping[str, str]) -> Path:
    """Write a wrk Lua script that POSTs `body` as JSON with `headers` on every request."""
    lines = ['wrk.method = "POST"', f"wrk.body = {lua_string(body)}"]
    lines.append('wrk.headers["Content-Type"] = "application/json"')
    lines += [f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def wrk_path() -> str:
    """The wrk executable, or WrkError naming the package to install."""
    found = shutil.which("wrk")
    if found is None:
        raise WrkError(f"wrk not found on PATH (Debian/Ubuntu: apt-get install {WRK_PACKAGE})")
    return found


def run_wrk(url: str, script: Path, *, connections: int, seconds: float, threads: int = 1) -> WrkResult:
    """Run wrk against `url` for `seconds` and parse its report.

    The request timeout is 10 s, not wrk's 2 s: a slow baseline's tail must show in p99, not vanish into
    the timeout count.
    """
    cmd = [wrk_path(), f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
    cmd += ["--latency", "--timeout", "10s", "-s", str(script), url]
    # subprocess.run kills wrk if we are interrupted; the timeout bounds a wedged run.
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if proc.returncode != 0:
        raise WrkError(f"wrk exited with {proc.returncode}: {proc.stderr.strip() or proc.stdout.strip()}")
    return parse_wrk_output(proc.stdout)
