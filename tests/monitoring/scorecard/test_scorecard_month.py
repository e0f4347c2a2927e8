"""`modelgate scorecard` end to end on a short month: generated series, promtool with the shipped rules,
the JSON shape of docs/scorecard.md, the Markdown table. The bounded form `make test` runs (two days,
the ops faults that fit, no Evidently); `make scorecard` runs the full month for several seeds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from monitoring.scorecard.cli import main

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is needed (`make system-deps`)"),
]


def test_two_day_month_pages_the_error_spike_in_time_without_false_alarms(tmp_path: Path) -> None:
    out, table = tmp_path / "card.json", tmp_path / "card.md"
    code = main(["--days", "2", "--seed", "3", "--ops-only", "--json", str(out), "--markdown", str(table)])
    card = json.loads(out.read_text())
    assert card["seeds"] == [3] and card["seed"] == 3 and card["days"] == 2
    (spike,) = card["faults"]
    assert {"name", "alert", "detected", "detect_seconds", "goal_seconds", "met"} <= set(spike)
    assert spike["name"] == "error_spike_5pct" and spike["alert"] == "HighErrorRate"
    # Detected by the fast clause: after the spike began, within the 5-minute goal, never before.
    assert spike["detected"] and 60 <= spike["detect_seconds"] <= spike["goal_seconds"] == 300
    assert card["false_alarms"] == [] and card["false_alarms_per_month"] == 0
    assert code == 0 and card["met"] is True
    assert "| error_spike_5pct | 5 min | HighErrorRate" in table.read_text()


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--days", "1"]) == 2
    err = capsys.readouterr().err
    assert err == "modelgate scorecard: argument --days: must be between 2 and 60, got 1\n"
    assert main(["--days", "2", "--artifact", str(tmp_path)]) == 2
    assert "has no train_reference.parquet" in capsys.readouterr().err
