"""Compaction on real Parquet files: fewer files, the same rows, exactly once for a reader running during
it, recovery from a compaction that died half-way, retention, stale temporary files, and the command."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import yaml

from adapters.churn.generator import generate_customers
from gateway.cli import main as cli_main
from gateway.logcontract.atomic import write_parquet
from gateway.logcontract.compact import CompactionPolicy, compact_log
from gateway.logcontract.layout import compact_file_name, part_file_name, partition_folder
from gateway.logcontract.listing import open_log
from gateway.logcontract.rows import as_log_table
from gateway.logcontract.schemas import PREDICTION_LOG
from gateway.logcontract.window import read_window

DAY = datetime(2025, 3, 9, tzinfo=UTC)
END = DAY + timedelta(days=1)
HOUR_MS = 3_600_000


def _flush(log: Path, version: str, written_at: datetime, n: int, tag: str) -> str:
    """One writer flush as the gateway makes it: `n` rows, named by its write time."""
    frame = generate_customers(n, seed=abs(hash(tag)) % 1000)
    frame.insert(0, "ts", [written_at - timedelta(seconds=1) + timedelta(milliseconds=i) for i in range(n)])
    frame.insert(1, "request_id", [f"{tag}-{i}" for i in range(n)])
    frame.insert(2, "tenant", "acme")
    frame["churn_probability"] = np.linspace(0, 1, n)
    frame["prediction"] = "no_churn"
    fs, root = open_log(str(log))
    folder = f"{root}/{partition_folder(written_at.date(), 'model_version', version)}"
    name = part_file_name(int(written_at.timestamp() * 1000))
    return write_parquet(fs, folder, name, as_log_table(PREDICTION_LOG, frame))


def _day_of_flushes(log: Path, hours: int, per_hour: int, rows: int, version: str = "v1") -> int:
    for h in range(hours):
        for k in range(per_hour):
            at = DAY + timedelta(hours=h, minutes=1 + k * (58 // per_hour))
            _flush(log, version, at, rows, f"{version}-{h}-{k}")
    return hours * per_hour * rows


def _ids(log: Path) -> list[str]:
    win = read_window(str(log), days=1, end=END, columns=["request_id"])
    return win.table.column("request_id").to_pylist()


def _parquet(log: Path) -> list[Path]:
    return sorted(p for p in log.rglob("*.parquet") if not p.name.startswith((".", "_")))


def test_closed_hours_become_one_file_each_with_the_same_rows(tmp_path: Path) -> None:
    log = tmp_path / "log"
    total = _day_of_flushes(log, hours=4, per_hour=6, rows=50)
    before_ids = sorted(_ids(log))
    assert len(_parquet(log)) == 24 and len(before_ids) == total
    report = compact_log(
        str(log), PREDICTION_LOG, before=DAY + timedelta(hours=3), policy=CompactionPolicy(), now=END
    )
    # hours 0-2 are closed; hour 3 ended after `before` and is left alone
    assert (report.files_in, report.files_out, report.rows) == (18, 3, 18 * 50)
    names = [p.name for p in _parquet(log)]
    assert (
        sum(n.startswith("compact-") for n in names) == 3 and sum(n.startswith("part-") for n in names) == 6
    )
    assert report.files_after == 9
    assert sorted(_ids(log)) == before_ids
    compacted = next(p for p in _parquet(log) if p.name.startswith("compact-"))
    ts = pa.parquet.read_table(compacted, columns=["ts"]).column("ts").to_pylist()
    assert ts == sorted(ts)  # sorted, so row-group statistics prune time windows
    again = compact_log(
        str(log), PREDICTION_LOG, before=DAY + timedelta(hours=3), policy=CompactionPolicy(), now=END
    )
    assert (again.files_in, again.files_out) == (0, 0)  # idempotent


def test_a_period_bigger_than_the_target_is_split_and_read_once(tmp_path: Path) -> None:
    log = tmp_path / "log"
    total = _day_of_flushes(log, hours=1, per_hour=8, rows=400)
    size = sum(p.stat().st_size for p in _parquet(log))
    policy = CompactionPolicy(target_bytes=size // 3 + 1)
    report = compact_log(str(log), PREDICTION_LOG, before=END, policy=policy, now=END)
    assert report.files_out == 3
    assert sorted(p.name.split("-")[3] for p in _parquet(log)) == ["1of3", "2of3", "3of3"]
    assert {p.name.split("-")[4] for p in _parquet(log)} == {"s8"}
    assert len(set(_ids(log))) == len(_ids(log)) == total


def test_a_reader_during_compaction_sees_every_row_exactly_once(tmp_path: Path) -> None:
    log = tmp_path / "log"
    total = _day_of_flushes(log, hours=24, per_hour=5, rows=20)
    expected = sorted(_ids(log))
    reads: list[tuple[float, float]] = []
    problems: list[str] = []
    done = threading.Event()

    def reader() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(reads) < 400 and not done.is_set():
            t0 = time.monotonic()
            ids = _ids(log)
            reads.append((t0, time.monotonic()))
            if sorted(ids) != expected:
                problems.append(f"read {len(ids)} rows ({len(set(ids))} distinct), expected {total}")

    thread = threading.Thread(target=reader)
    thread.start()
    while not reads and thread.is_alive():
        time.sleep(0.01)  # the reader is looping: a read is in flight when the compaction starts
    started = time.monotonic()
    # 24 compactions, one closed hour each, the way an hourly schedule runs them
    for h in range(1, 25):
        seen = len(reads)
        compact_log(
            str(log), PREDICTION_LOG, before=DAY + timedelta(hours=h), policy=CompactionPolicy(), now=END
        )
        # let the reader finish a read between two compactions, however fast they are on this machine
        wait_until = time.monotonic() + 5
        while len(reads) <= seen and thread.is_alive() and time.monotonic() < wait_until:
            time.sleep(0.005)
    finished = time.monotonic()
    time.sleep(0.05)
    done.set()
    thread.join(150)
    assert len(_parquet(log)) == 24
    assert problems == []
    overlapping = [r for r in reads if r[0] < finished and r[1] > started]
    assert len(overlapping) >= 2


def test_a_compaction_that_died_half_way_is_invisible_and_redone(tmp_path: Path) -> None:
    log = tmp_path / "log"
    total = _day_of_flushes(log, hours=2, per_hour=3, rows=30)
    folder = log / "date=2025-03-09" / "model_version=v1"
    start = int(DAY.timestamp() * 1000)
    # died while publishing: 1 of 2 files of hour 0's set; its rows are the hour's, written again
    parts_h0 = sorted(folder.glob("part-*"))[:3]
    rows_h0 = pa.concat_tables([pa.parquet.read_table(p) for p in parts_h0])
    fs, _ = open_log(str(log))
    write_parquet(fs, str(folder), compact_file_name(start, start + HOUR_MS, 1, 2, 3), rows_h0)
    # died after publishing hour 1's complete set, before deleting the writer files it replaces
    parts_h1 = sorted(folder.glob("part-*"))[3:]
    rows_h1 = pa.concat_tables([pa.parquet.read_table(p) for p in parts_h1])
    write_parquet(fs, str(folder), compact_file_name(start + HOUR_MS, start + 2 * HOUR_MS, 1, 1, 3), rows_h1)
    ids = _ids(log)
    assert len(ids) == len(set(ids)) == total
    report = compact_log(str(log), PREDICTION_LOG, before=END, policy=CompactionPolicy(), now=END)
    assert (report.incomplete_removed, report.covered_removed, report.files_in) == (1, 3, 3)
    assert len(_parquet(log)) == 2 and sorted(_ids(log)) == sorted(ids)


def test_retention_deletes_old_partitions_and_stale_temporary_files_go(tmp_path: Path) -> None:
    log = tmp_path / "log"
    _flush(log, "v1", DAY - timedelta(days=40), 10, "old")
    _flush(log, "v1", DAY + timedelta(hours=1), 10, "new")
    folder = log / "date=2025-03-09" / "model_version=v1"
    stale, fresh = folder / ".part-x.parquet.aaaaaa.tmp", folder / ".part-y.parquet.bbbbbb.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    policy = CompactionPolicy(retention_days=30)
    report = compact_log(str(log), PREDICTION_LOG, before=END, policy=policy, now=END)
    assert [Path(p).name for p in report.partitions_deleted] == ["date=2025-01-28"]
    assert not (log / "date=2025-01-28").exists()
    assert report.tmp_removed == 1 and not stale.exists() and fresh.exists()


def test_an_unreadable_writer_file_is_set_aside_not_lost_silently(tmp_path: Path) -> None:
    log = tmp_path / "log"
    total = _day_of_flushes(log, hours=1, per_hour=3, rows=20)
    victim = sorted((log / "date=2025-03-09" / "model_version=v1").glob("part-*"))[1]
    victim.write_bytes(victim.read_bytes()[:50])
    report = compact_log(str(log), PREDICTION_LOG, before=END, policy=CompactionPolicy(), now=END)
    assert [Path(p).name for p in report.corrupt] == [f"_corrupt-{victim.name}.bad"]
    assert (victim.parent / f"_corrupt-{victim.name}.bad").exists()
    assert len(_ids(log)) == total - 20


def test_the_command_compacts_both_logs_and_publishes_its_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "data" / "predictions"
    _day_of_flushes(log, hours=2, per_hour=4, rows=10)
    cfg = tmp_path / "modelgate.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": "data", "logs": {"compaction_period": "day"}}))
    monkeypatch.setenv("MODELGATE_JOBS__RESULTS_DIR", str(tmp_path / "results"))
    code = cli_main(["logs", "compact", "--config", str(cfg), "--before", "2025-03-10T00:00:00Z"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "predictions: 8 files (80 rows" in out and "-> 1 files" in out
    result = json.loads((tmp_path / "results" / "logs_compact--predictions.json").read_text())
    metrics = {m["name"]: m["value"] for m in result["metrics"]}
    assert metrics["modelgate_log_compaction_input_files"] == 8
    assert metrics["modelgate_log_live_files"] == 1
    assert (tmp_path / "results" / "logs_compact--llm.json").exists()  # an absent log is an empty one
    assert cli_main(["logs", "compact", "--config", str(cfg), "--before", "yesterday"]) == 2
    assert "not an ISO 8601 time" in capsys.readouterr().err


def test_a_listing_torn_by_a_compaction_is_detected() -> None:
    from gateway.logcontract.layout import live_files, torn

    f = "/log/date=2025-03-09/model_version=v1"
    start = int(DAY.timestamp() * 1000)
    parts = [f"{f}/part-{start + i:013d}-0000000{i}.parquet" for i in range(3)]
    done = [f"{f}/" + compact_file_name(start, start + HOUR_MS, 1, 1, 3)]
    assert live_files(parts + done) == done  # a complete set hides the parts it replaces
    assert not torn(parts, done)  # the first listing saw all 3 parts: its read stands
    assert torn(parts[2:], done)  # it missed 2 deleted parts and the set: read again
    assert not torn(done, done) and not torn(parts[2:], parts[2:])
