"""bench/ttft_stages.py end to end: every stage stamped, in order, in a real gateway before the simulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.ttft_stages import STAGES, main, stage_medians


def test_every_stage_is_stamped_in_order_and_the_first_token_waits_for_the_simulator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "stages.json"
    assert main(["--streams", "12", "--rounds", "1", "--json", str(out)]) == 0
    figures = json.loads(out.read_text(encoding="utf-8"))
    stages = [figures["stages_ms"][s] for s in STAGES]
    assert stages == sorted(stages) and stages[0] > 0
    # The simulator waits 5 ms before its first token; the gateway cannot have relayed it sooner.
    assert figures["stages_ms"]["first_token_in"] >= 5.0
    ttft = figures["ttft_p50_ms"]
    assert ttft["direct"] >= 5.0 and ttft["modelgate"] > ttft["direct"]
    printed = capsys.readouterr().out
    assert all(stage in printed for stage in STAGES)


def test_stage_medians_leave_out_the_warm_up_and_incomplete_streams() -> None:
    whole = {s: float(i + 1) for i, s in enumerate(STAGES)}
    rows = [{s: 100.0 for s in STAGES}] * 5 + [whole, whole, {"routed": 0.5}]
    assert stage_medians(rows) == whole
    assert stage_medians(rows[:5]) == {}


def test_too_few_streams_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--streams", "3"])
    assert exited.value.code == 2
    assert "--streams must be at least 10" in capsys.readouterr().err


def test_a_server_that_will_not_start_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import bench.stack
    from bench.servers import ServerError

    def broken_sim(*args: object, **kwargs: object) -> None:
        raise ServerError(
            "sim-stream exited with 2; log /tmp/x/sim-stream.log:\nTraceback (most recent call last):"
        )

    monkeypatch.setattr(bench.stack, "start_sim", broken_sim)
    assert main(["--streams", "10", "--rounds", "1"]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "python -m bench.ttft_stages: sim-stream exited with 2; log /tmp/x/sim-stream.log:"
    ]
