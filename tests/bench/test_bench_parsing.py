"""The bench harness's pure parts: wrk's report, percentiles, /proc CPU times, the Lua script, SSE chunks."""

from __future__ import annotations

import math
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench.__main__ import without_nan
from bench.procstat import (
    ProcStatError,
    cpu_seconds_from_stat,
    descendants,
    process_cpu_seconds,
    tree_cpu_seconds,
)
from bench.stats import percentile, ratio
from bench.streaming import first_content
from bench.wrk import WrkError, lua_string, parse_duration_s, parse_wrk_output, write_post_script

# Verbatim from wrk 4.1.0 on this machine (with --latency), one clean run and one with errors.
WRK_CLEAN = """\
Running 5s test @ http://127.0.0.1:18800/v1/churn/predict
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    66.51ms   82.55ms 505.96ms   91.31%
    Req/Sec   369.40    132.78   565.00     72.53%
  Latency Distribution
     50%   35.85ms
     75%   53.90ms
     90%  115.22ms
     99%  455.53ms
  3386 requests in 5.03s, 1.13MB read
Requests/sec:    672.78
Transfer/sec:    230.61KB
"""

WRK_ERRORS = """\
Running 10s test @ http://127.0.0.1:18801/v1/chat/completions
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.00us    1.02ms   1.10s    88.63%
    Req/Sec     4.64k     2.38k    7.96k    48.00%
  Latency Distribution
     50%  640.00us
     75%    0.98ms
     90%    1.80ms
     99%    1.08s
  46242 requests in 1.00m, 24.78MB read
  Socket errors: connect 0, read 2, write 0, timeout 7
  Non-2xx or 3xx responses: 120
Requests/sec:    770.70
Transfer/sec:      2.46MB
"""


def test_parses_a_clean_wrk_report() -> None:
    r = parse_wrk_output(WRK_CLEAN)
    assert r.requests == 3386
    assert r.duration_s == pytest.approx(5.03)
    assert r.rps == pytest.approx(672.78)
    assert (r.p50_ms, r.p75_ms, r.p90_ms, r.p99_ms) == pytest.approx((35.85, 53.90, 115.22, 455.53))
    assert r.mean_ms == pytest.approx(66.51) and r.max_ms == pytest.approx(505.96)
    assert r.non_2xx == 0 and r.errors == 0
    assert r.ok_rps == pytest.approx(3386 / 5.03)


def test_parses_units_and_errors_and_excludes_non_2xx_from_throughput() -> None:
    r = parse_wrk_output(WRK_ERRORS)
    assert r.duration_s == pytest.approx(60.0)
    assert r.p50_ms == pytest.approx(0.64)
    assert r.p75_ms == pytest.approx(0.98)
    assert r.p99_ms == pytest.approx(1080.0)
    assert r.mean_ms == pytest.approx(0.812) and r.max_ms == pytest.approx(1100.0)
    assert r.non_2xx == 120
    assert r.socket_errors == {"connect": 0, "read": 2, "write": 0, "timeout": 7}
    assert r.errors == 129
    assert r.ok_rps == pytest.approx((46242 - 120) / 60.0)


def test_output_without_latency_distribution_is_refused() -> None:
    text = WRK_CLEAN.replace("  Latency Distribution\n", "").replace("     99%  455.53ms\n", "")
    with pytest.raises(WrkError, match="99"):
        parse_wrk_output(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("12us", 12e-6), ("35.85ms", 0.03585), ("5.03s", 5.03), ("1.50m", 90.0), ("2h", 7200.0)],
)
def test_wrk_time_units(text: str, seconds: float) -> None:
    assert parse_duration_s(text) == pytest.approx(seconds)


def test_a_time_without_unit_is_refused() -> None:
    with pytest.raises(WrkError):
        parse_duration_s("35.85")


def test_percentile_matches_numpy_linear_definition() -> None:
    rng = random.Random(5)
    values = [rng.expovariate(1.0) for _ in range(997)]
    for q in (0, 1, 50, 90, 99, 99.9, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), rel=1e-12)


def test_percentile_small_cases() -> None:
    assert percentile([3.0], 99) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([10.0, 0.0], 25) == 2.5  # order of the input does not matter
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_ratio_is_nan_when_the_baseline_is_zero() -> None:
    assert ratio(30.0, 10.0) == 3.0
    assert math.isnan(ratio(1.0, 0.0))
    assert without_nan({"a": [math.nan, 1.0], "b": math.inf}) == {"a": [None, 1.0], "b": None}


def test_stat_line_with_spaces_and_parens_in_the_command_name() -> None:
    # After the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
    line = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 4 0 123 456 789"
    assert cpu_seconds_from_stat(line, 100) == pytest.approx(3.0)


def test_truncated_stat_line_is_refused() -> None:
    with pytest.raises(ProcStatError):
        cpu_seconds_from_stat("4242 (x) S 1 2 3", 100)
    with pytest.raises(ProcStatError):
        cpu_seconds_from_stat("no parenthesis here", 100)


def test_process_cpu_seconds_follows_our_own_cpu_use() -> None:
    before, times_before = process_cpu_seconds(os.getpid()), os.times()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass  # burn CPU in this process
    after, times_after = process_cpu_seconds(os.getpid()), os.times()
    used = (times_after.user + times_after.system) - (times_before.user + times_before.system)
    assert after - before == pytest.approx(used, abs=0.03)  # both in clock ticks of 10 ms
    assert after - before >= 0.25


def test_tree_cpu_seconds_charges_the_processes_a_server_started() -> None:
    # A child and a grandchild that burn CPU: the tree counts them, the process alone does not.
    burn = (
        "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\ntime.sleep(30)"
    )
    spawn = f"import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', {burn!r}])\n{burn}"
    child = subprocess.Popen([sys.executable, "-c", spawn])
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            below = descendants(child.pid)
            if below and process_cpu_seconds(child.pid) >= 0.4 and process_cpu_seconds(below[0]) >= 0.4:
                break
            time.sleep(0.05)
        assert len(descendants(os.getpid())) >= 2  # the child and its own child
        assert tree_cpu_seconds(child.pid) >= process_cpu_seconds(child.pid) + 0.4
    finally:
        for pid in descendants(child.pid):
            os.kill(pid, 9)
        child.kill()
        child.wait()


def test_process_cpu_seconds_of_a_missing_process() -> None:
    with pytest.raises(ProcStatError, match="cannot read"):
        process_cpu_seconds(2**22 + 1)  # above the kernel's pid_max limit


def _lua_unquote(literal: str) -> str:
    """Read back a double-quoted Lua literal (the escapes lua_string uses)."""
    assert literal[0] == literal[-1] == '"'
    inner = literal[1:-1]
    assert re.search(r'(?<!\\)(?:\\\\)*"', inner) is None, "an unescaped quote would end the string"
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), inner)


def test_post_script_escapes_body_and_headers(tmp_path: Path) -> None:
    body = '{"text": "a \\"quoted\\" \\\\ line\\nnext"}\r\n'
    script = write_post_script(
        tmp_path / "x.lua", body=body, headers={"Authorization": "Bearer k"}
    ).read_text()
    assert f"wrk.body = {lua_string(body)}\n" in script
    assert _lua_unquote(lua_string(body)) == body
    assert 'wrk.method = "POST"' in script and 'wrk.headers["Authorization"] = "Bearer k"' in script


def test_first_content_skips_role_only_and_done_chunks() -> None:
    role = b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n'
    content = b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n'
    usage = b'data: {"choices":[],"usage":{"completion_tokens":5}}\n'
    assert not first_content(role)
    assert first_content(content)
    assert not first_content(usage)
    assert not first_content(b"data: [DONE]\n")
    assert not first_content(b"\n")
