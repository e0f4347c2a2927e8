"""The whole loop for real: the core suite against `modelgate vllm-sim`, a trailing baseline, a drop.

Three baseline runs at wrong-rate 0.05 (no verdict until the trailing window is full), one more at 0.05
(no regression: exit 0), then one at 0.25 (regression: exit 1). The simulator's wrong answers are random
per request, so this can flake: by the simulation in test_eval_regression.py, about 0.2% of equal-quality
comparisons fire and about 0.04% of 0.05 → 0.25 drops are missed at this suite size.
"""

import json

import pytest

from evals.cli import main
from gateway.logcontract.job_results import read_result
from support.evals_helpers import MODEL, set_faults

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_quality_drop_is_caught_and_equal_quality_is_not(sim_process, config_file, tmp_path, capsys):
    def run(*extra):
        argv = [
            "run",
            "core",
            "--config",
            str(config_file),
            "--model",
            MODEL,
            "--base-url",
            f"{sim_process}/v1",
        ]
        return main([*argv, "--api-key", "k", "--concurrency", "8", "--baseline", "trailing:3", *extra])

    set_faults(sim_process, wrong_rate=0.05)
    assert [run() for _ in range(3)] == [0, 0, 0]
    assert capsys.readouterr().out.count("→ no_baseline") == 3  # 0, 1, 2 of the 3 baseline runs
    assert run() == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].endswith("over 3 runs → ok"), out[-1]

    set_faults(sim_process, wrong_rate=0.25)
    report = tmp_path / "drop.json"
    assert run("--json", str(report)) == 1
    summary = json.loads(report.read_text())
    assert summary["verdict"] == "regressed"
    assert len(summary["baseline"]["run_ids"]) == 3
    reg = summary["regression"]
    assert reg["pass_drop"] >= 0.1 and reg["mcnemar"]["mid_p_one_sided"] <= 0.01
    assert reg["reasons"] and summary["changes"]["newly_failing"]
    result = read_result(config_file.parent / "data" / "jobs" / f"eval_run--core_{MODEL}.json")
    assert result is not None and result["exit_code"] == 1 and result["status"] == "ok"
    flags = [m["value"] for m in result["metrics"] if m["name"] == "modelgate_eval_regression"]
    assert flags == [1.0]
    assert "→ regressed" in capsys.readouterr().out
