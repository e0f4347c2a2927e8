"""The drift benchmark's pieces on a tiny scale: its generated log is the contract's, its meter measures."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

from bench.drift_bench import END, _day_table, measure
from gateway.logcontract.rows import write_prediction_rows
from gateway.logcontract.window import read_window


def test_generated_day_follows_the_log_contract(tmp_path: Path) -> None:
    table = _day_table(2000, 6, END - timedelta(days=1))
    write_prediction_rows(str(tmp_path), table, "v-bench")
    win = read_window(str(tmp_path), days=1, end=END, columns=["ts", "tenant", "contract_type"])
    assert (win.model_version, win.n_rows) == ("v-bench", 2000)
    assert set(win.table.column("tenant").to_pylist()) == {"acme", "globex", "initech"}
    assert len(set(table.column("request_id").to_pylist())) == 2000


def test_measure_reports_exit_code_time_and_memory() -> None:
    m = measure([sys.executable, "-c", "x = bytearray(50_000_000); raise SystemExit(3)"], timeout=60)
    assert (m.exit_code, m.timed_out) == (3, False)
    assert m.peak_rss_mb > 50 and m.wall_s > 0
    slow = measure([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert slow.timed_out and slow.wall_s < 10
