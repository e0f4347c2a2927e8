"""Compaction samples on real Parquet files: one uniform sample beside each set, windows drawn from them as
a simple random sample of the window, and every fallback (edges, busy hours, missing or damaged samples)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gateway.logcontract.atomic import write_parquet
from gateway.logcontract.compact import CompactionPolicy, compact_log
from gateway.logcontract.layout import part_file_name, partition_folder
from gateway.logcontract.listing import open_log
from gateway.logcontract.rows import as_log_table
from gateway.logcontract.samples import allocate, read_sample_info
from gateway.logcontract.schemas import PREDICTION_LOG
from gateway.logcontract.window import read_window

DAY = datetime(2025, 3, 9, tzinfo=UTC)
END = DAY + timedelta(days=1)
# Rows per hour: unequal on purpose, so a sample that ignored the hours' weights would show.
SIZES = (2000, 500, 2000, 4000, 1000, 500)


def _flush(log: Path, hour: int, k: int, n: int) -> None:
    """One writer file of `n` rows in `hour`, its rows' `ts` spread over the hour's first 50 minutes."""
    at = DAY + timedelta(hours=hour, minutes=55, seconds=k)
    rng = np.random.default_rng([hour, k])
    ts = [DAY + timedelta(hours=hour, seconds=int(s)) for s in np.sort(rng.integers(0, 3000, n))]
    table = pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "request_id": [f"h{hour}-k{k}-{i}" for i in range(n)],
            "tenant": ["acme"] * n,
            "tenure_months": rng.integers(0, 72, n),
            "monthly_charges": rng.normal(60, 20, n),
        }
    )
    fs, root = open_log(str(log))
    folder = f"{root}/{partition_folder(DAY.date(), 'model_version', 'v1')}"
    write_parquet(fs, folder, part_file_name(int(at.timestamp() * 1000)), as_log_table(PREDICTION_LOG, table))


def _log(tmp_path: Path, *, sample_rows: int, hours: int = len(SIZES)) -> Path:
    """Hours 0-5 of DAY, two writer files each, compacted with samples of `sample_rows`."""
    log = tmp_path / "log"
    for hour in range(hours):
        _flush(log, hour, 0, SIZES[hour] // 2)
        _flush(log, hour, 1, SIZES[hour] - SIZES[hour] // 2)
    policy = CompactionPolicy(sample_rows=sample_rows)
    compact_log(str(log), PREDICTION_LOG, before=DAY + timedelta(hours=hours), policy=policy, now=END)
    return log


def _samples(log: Path) -> list[Path]:
    return sorted(log.rglob("_sample-*.sample"))


def _hour(request_ids: list[str]) -> np.ndarray:
    return np.array([int(r.split("-")[0][1:]) for r in request_ids])


def test_each_set_gets_a_shuffled_uniform_sample_that_no_parquet_glob_sees(tmp_path: Path) -> None:
    log = _log(tmp_path, sample_rows=600)
    samples = _samples(log)
    assert len(samples) == len(SIZES)
    assert not [p for p in log.rglob("*.parquet") if p.name.startswith("_sample")]
    fs, _ = open_log(str(log))
    for path in samples:
        info = read_sample_info(fs, str(path))
        assert info is not None
        (set_file,) = info.set_names
        rows = pq.read_table(path.parent / set_file)
        assert info.population == rows.num_rows and info.rows == min(600, rows.num_rows)
        sample = pq.read_table(path)
        ids = sample.column("request_id").to_pylist()
        assert len(set(ids)) == len(ids) and set(ids) <= set(rows.column("request_id").to_pylist())
        ts = sample.column("ts").to_pylist()
        assert ts != sorted(ts)  # random order: a prefix of the sample is itself uniform


def test_a_large_window_is_drawn_from_samples_as_a_simple_random_sample(tmp_path: Path) -> None:
    log = _log(tmp_path, sample_rows=1000)
    total = sum(SIZES)
    win = read_window(str(log), days=1, end=END, columns=["request_id"], max_rows=1200, seed=3)
    assert (win.n_rows_total, win.n_rows, win.sampled) == (total, 1200, True)
    assert win.rows_from_samples == 1200  # every hour's share fits in its sample: no set row was decoded
    ids = win.table.column("request_id").to_pylist()
    assert len(set(ids)) == 1200
    again = read_window(str(log), days=1, end=END, columns=["request_id"], max_rows=1200, seed=3)
    assert again.table.column("request_id").to_pylist() == ids  # same files and seed, same rows
    # Each hour's share of the draw follows its share of the rows (a hypergeometric count): over ten
    # seeds the mean count per hour is within 4 standard errors of 1200 * N_h / N.
    counts = np.array(
        [
            np.bincount(
                _hour(
                    read_window(str(log), days=1, end=END, columns=["request_id"], max_rows=1200, seed=s)
                    .table.column("request_id")
                    .to_pylist()
                ),
                minlength=len(SIZES),
            )
            for s in range(10)
        ]
    )
    share = np.array(SIZES) / total
    expected = 1200 * share
    sd = np.sqrt(1200 * share * (1 - share) * (total - 1200) / (total - 1) / 10)
    assert np.all(np.abs(counts.mean(axis=0) - expected) < 4 * sd), counts.mean(axis=0)


def test_the_hypergeometric_split_sums_to_the_draw_and_stays_within_each_stratum() -> None:
    rng = np.random.default_rng(0)
    rows = [5, 0, 1000, 3]
    for _ in range(50):
        n = int(rng.integers(0, sum(rows) + 1))
        got = allocate(rows, n, rng)
        assert got.sum() == n and np.all(got <= rows) and got[1] == 0
    assert allocate([10], 4, rng).tolist() == [4]


def test_an_hour_needing_more_rows_than_its_sample_is_drawn_from_its_set(tmp_path: Path) -> None:
    log = _log(tmp_path, sample_rows=100)
    win = read_window(str(log), days=1, end=END, columns=["request_id"], max_rows=1200, seed=1)
    hours = _hour(win.table.column("request_id").to_pylist())
    assert win.n_rows == 1200 and len(set(win.table.column("request_id").to_pylist())) == 1200
    # hours of 500 and 1000 rows need ~60-120 rows (<= 100 mostly); the busy hours need 240-480
    assert 0 < win.rows_from_samples < 1200
    assert np.bincount(hours, minlength=len(SIZES))[3] > 100  # more than its sample holds


def test_edge_hours_and_uncompacted_files_are_read_from_rows(tmp_path: Path) -> None:
    log = _log(tmp_path, sample_rows=1000)
    _flush(log, 6, 0, 700)  # hour 6: still open, a writer file only
    # The window ends 30 minutes into hour 5: that set straddles the edge, so its sample cannot serve.
    end = DAY + timedelta(hours=5, minutes=30)
    full = read_window(str(log), days=1, end=end + timedelta(hours=2), columns=["request_id", "ts"])
    in_window = [r for r, t in zip(*full.table.to_pydict().values(), strict=True) if t < end]
    win = read_window(str(log), days=1, end=end, columns=["request_id", "ts"], max_rows=1200, seed=0)
    assert win.n_rows_total == len(in_window) and win.n_rows == 1200
    assert set(win.table.column("request_id").to_pylist()) <= set(in_window)
    assert max(win.table.column("ts").to_pylist()) < end
    hours = _hour(win.table.column("request_id").to_pylist())
    from_hour_5 = int((hours == 5).sum())
    assert from_hour_5 > 0 and win.rows_from_samples == 1200 - from_hour_5
    # Past the open hour's writer file too: it is pooled with nothing else and drawn from its rows.
    later = read_window(str(log), days=1, end=END, columns=["request_id"], max_rows=1500, seed=0)
    later_hours = _hour(later.table.column("request_id").to_pylist())
    assert later.rows_from_samples == 1500 - int((later_hours == 6).sum()) and (later_hours == 6).any()


def test_missing_samples_are_backfilled_and_orphans_removed(tmp_path: Path) -> None:
    log = _log(tmp_path, sample_rows=0)
    assert _samples(log) == []
    win = read_window(str(log), days=1, end=END, columns=["request_id"], max_rows=1200, seed=0)
    assert win.rows_from_samples == 0 and win.n_rows == 1200
    policy = CompactionPolicy(sample_rows=300)
    report = compact_log(str(log), PREDICTION_LOG, before=END, policy=policy, now=END)
    assert report.samples_written == len(SIZES) and len(_samples(log)) == len(SIZES)
    assert compact_log(str(log), PREDICTION_LOG, before=END, policy=policy, now=END).samples_written == 0
    # A set removed by hand leaves its sample behind: the next run deletes it.
    sample = _samples(log)[0]
    (set_file,) = read_sample_info(open_log(str(log))[0], str(sample)).set_names  # type: ignore[union-attr]
    (sample.parent / set_file).unlink()
    report = compact_log(str(log), PREDICTION_LOG, before=END, policy=policy, now=END)
    assert report.samples_removed == 1 and not sample.exists()


def test_a_damaged_sample_is_passed_over_and_its_set_read(tmp_path: Path) -> None:
    log = _log(tmp_path, sample_rows=1000)
    broken = _samples(log)[3]  # the busiest hour's
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])
    win = read_window(str(log), days=1, end=END, columns=["request_id"], max_rows=1200, seed=0)
    hours = _hour(win.table.column("request_id").to_pylist())
    assert win.n_rows == 1200 and win.skipped_files == ()  # no row was lost: nothing to report
    assert win.rows_from_samples == 1200 - int((hours == 3).sum()) and (hours == 3).any()


@pytest.mark.parametrize("max_rows", [None, 20_000])
def test_small_windows_read_every_row_and_ignore_samples(tmp_path: Path, max_rows: int | None) -> None:
    log = _log(tmp_path, sample_rows=100)
    win = read_window(str(log), days=1, end=END, columns=["request_id"], max_rows=max_rows)
    assert win.n_rows == sum(SIZES) and not win.sampled and win.rows_from_samples == 0
