"""`modelgate churn train`: exit codes, one-line errors, progress and summary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from adapters.churn.artifact import ARTIFACT_FILES, load_metadata
from adapters.churn.cli import main


def test_train_writes_the_artifact_and_prints_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "models" / "churn"
    assert main(["train", "--out", str(out), "--rows", "600", "--seed", "3"]) == 0
    captured = capsys.readouterr()
    meta = load_metadata(out)
    assert sorted(p.name for p in out.iterdir()) == sorted(ARTIFACT_FILES)
    assert meta.seed == 3 and meta.n_train + meta.n_validation == 600
    summary = captured.out.strip().splitlines()
    assert len(summary) == 1
    assert meta.version in summary[0] and str(out) in summary[0]
    assert f"{meta.validation_auc:.4f}" in summary[0]
    assert "generating 600 customers" in captured.err and "fitting" in captured.err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ([], "modelgate churn: the following arguments are required: COMMAND"),
        (["bogus"], "modelgate churn: argument COMMAND: invalid choice: 'bogus'"),
        (["train", "--rows", "many"], "modelgate churn train: argument --rows: not a whole number"),
        (["train", "--rows", "-5"], "modelgate churn train: argument --rows: must be >= 1"),
        (["train", "--rows"], "modelgate churn train: argument --rows: expected one argument"),
        (["train", "--seed", "-1"], "modelgate churn train: argument --seed: must be >= 0"),
        (
            ["train", "--threshold", "2"],
            "modelgate churn train: argument --threshold: must be between 0 and 1",
        ),
        (["train", "--threshold", "nan"], "argument --threshold: must be a finite number"),
        (["train", "--unknown"], "modelgate churn: unrecognized arguments: --unknown"),
    ],
)
def test_bad_usage_exits_2_with_one_line_naming_the_argument(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1
    assert fragment in captured.err
    assert "usage:" not in captured.err and captured.out == ""


def test_too_few_rows_and_unsafe_out_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--out", str(tmp_path / "m"), "--rows", "50"]) == 2
    assert "rows must be at least" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["train", "--out", str(tmp_path), "--rows", "600"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "refusing to replace" in err
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["train", "-h"]])
def test_help_exits_0_and_states_the_defaults(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: modelgate churn{' train' if 'train' in argv else ''} ")
    if "train" in argv:
        assert "--rows ROWS" in out and "(default: 20000)" in out and "(default: data/models/churn)" in out
    else:
        assert "train" in out


@pytest.mark.slow  # a fresh interpreter importing scikit-learn: ~5 s here
def test_modelgate_console_script_defaults_to_data_models_churn_under_cwd(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "modelgate"
    result = subprocess.run(
        [str(script), "churn", "train", "--rows", "400"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert load_metadata(tmp_path / "data" / "models" / "churn").n_train == 300
