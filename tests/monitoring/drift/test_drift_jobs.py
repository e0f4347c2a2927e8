"""The drift jobs end to end through `modelgate drift`: simulated logs, a real artifact, real Evidently.

Evidently is slow to import (~15 s) and each run costs about a second, so the logs are built once per
module and each test makes one or two runs. The CLI runs in-process, so Evidently is imported once.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitoring.drift.cli import main

pytestmark = pytest.mark.slow

END = "2025-03-10T00:00:00Z"
DAY_BEFORE = "2025-03-09T00:00:00Z"


def version_of(artifact: Path) -> str:
    return str(json.loads((artifact / "metadata.json").read_text())["version"])


def simulate(log: Path, artifact: Path, *extra: str) -> None:
    argv = ["simulate", "--out", str(log), "--artifact", str(artifact), "--days", "1", "--end", END, *extra]
    assert main(argv) == 0


def config(tmp: Path, log: Path, artifact: Path, drift: dict[str, Any] | None = None) -> Path:
    body = {
        "data_dir": str(tmp / "data"),
        "prediction_log": {"uri": str(log)},
        "churn": {"artifact_dir": str(artifact)},
        "jobs": {"results_dir": str(tmp / "jobs")},
        "monitoring": {"drift": drift or {}},
    }
    path = tmp / "modelgate.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def drifted(summary: dict[str, Any]) -> set[str]:
    return {name for name, col in summary["columns"].items() if col["drifted"]}


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory, churn_artifact: Path) -> dict[str, Path]:
    """One-day windows of 2,000 rows ending at END: calm, covariate-shifted, and a mixed-tenant one."""
    root = tmp_path_factory.mktemp("drift-logs")
    simulate(root / "calm", churn_artifact, "--rows-per-day", "2000", "--shift", "calm")
    simulate(root / "covariate", churn_artifact, "--rows-per-day", "2000", "--shift", "covariate")
    # acme's customers are unchanged, globex's shifted: only globex's segment may drift.
    mixed = root / "mixed"
    simulate(mixed, churn_artifact, "--rows-per-day", "1000", "--tenants", "acme", "--seed", "1")
    simulate(mixed, churn_artifact, "--rows-per-day", "1000", "--tenants", "globex", "--shift", "covariate")
    # Small windows: a quiet day (200 rows) calm and shifted, and one too small to judge at all.
    simulate(root / "small-calm", churn_artifact, "--rows-per-day", "200", "--seed", "3")
    simulate(root / "small-shift", churn_artifact, "--rows-per-day", "200", "--shift", "covariate")
    simulate(root / "tiny", churn_artifact, "--rows-per-day", "50")
    return {
        "calm": root / "calm",
        "covariate": root / "covariate",
        "mixed": mixed,
        **{name: root / name for name in ("small-calm", "small-shift", "tiny")},
    }


def test_calm_window_from_the_reference_distribution_has_no_drift(
    tmp_path: Path, churn_artifact: Path, logs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(tmp_path, logs["calm"], churn_artifact)
    html = tmp_path / "report.html"
    code, s, _ = run(capsys, "data", "--config", str(cfg), "--end", END, "--days", "1", "--html", str(html))
    assert code == 0
    assert (s["verdict"], s["n_drifted"], s["share_drifted"], s["retrain_candidate"]) == (
        "no_drift",
        0,
        0.0,
        False,
    )
    assert set(s["columns"]) == {
        "tenure_months",
        "monthly_charges",
        "total_charges",
        "support_tickets",
        "contract_type",
        "payment_method",
        "internet_service",
    }
    # Reference above 1,000 rows: Evidently picks distances, threshold 0.1, for every column.
    for col in s["columns"].values():
        assert col["method"] in {"wasserstein", "jensenshannon"} and col["threshold"] == 0.1
        assert 0.0 <= col["score"] < col["threshold"]
    version = version_of(churn_artifact)
    meta = json.loads((churn_artifact / "metadata.json").read_text())
    assert s["model_version"] == version and s["versions_seen"] == {version: 2000}
    assert (s["n_current"], s["n_reference"], s["sampled"], s["against"]) == (
        2000,
        meta["n_train"],
        False,
        "training",
    )
    assert s["window"] == {
        "start": "2025-03-09T00:00:00+00:00",
        "end": "2025-03-10T00:00:00+00:00",
        "days": 1,
    }
    assert s["evidently_share_drifted"] == 0.0
    assert html.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")

    result = json.loads((tmp_path / "jobs" / "drift_data--training.json").read_text())
    assert (result["status"], result["exit_code"], result["variant"]) == ("ok", 0, "training")
    gauges = {(m["name"], m["labels"].get("column")): m for m in result["metrics"]}
    assert gauges[("modelgate_drift_share", None)]["value"] == 0.0
    assert gauges[("modelgate_drift_detected", None)]["labels"] == {
        "model": "churn",
        "model_version": version,
        "against": "training",
    }
    assert (
        gauges[("modelgate_drift_column_score", "tenure_months")]["value"]
        == s["columns"]["tenure_months"]["score"]
    )
    # A calm window: every column's own decision is "not drifted", exported as 0 per column.
    flags = {c: m["value"] for (n, c), m in gauges.items() if n == "modelgate_drift_column_drifted"}
    assert flags == dict.fromkeys(s["columns"], 0.0)


def test_covariate_window_flags_the_shifted_columns_and_trips_the_gate(
    tmp_path: Path, churn_artifact: Path, logs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(tmp_path, logs["covariate"], churn_artifact)
    json_out = tmp_path / "out" / "drift.json"
    assert main(["data", "--config", str(cfg), "--end", END, "--days", "1", "--json", str(json_out)]) == 1
    assert capsys.readouterr().out == ""
    s = json.loads(json_out.read_text())
    # The three shifted columns, and total_charges (tenure x monthly) with them. support_tickets moves
    # a little (month-to-month customers file more tickets): expected normed Wasserstein ~0.07, close
    # to the 0.1 threshold, so it is not asserted either way. The rest must stay calm.
    assert {"monthly_charges", "tenure_months", "contract_type", "total_charges"} <= drifted(s)
    assert not {"internet_service", "payment_method"} & drifted(s)
    assert s["verdict"] == "drift" and s["share_drifted"] >= 0.3
    assert s["retrain_candidate"] is (s["share_drifted"] >= 0.6)
    result = json.loads((tmp_path / "jobs" / "drift_data--training.json").read_text())
    detected = [m for m in result["metrics"] if m["name"] == "modelgate_drift_detected"]
    assert (result["exit_code"], detected[0]["value"]) == (1, 1.0)
    # Each column's exported flag is the summary's own decision for it.
    flags = {
        m["labels"]["column"]: m["value"]
        for m in result["metrics"]
        if m["name"] == "modelgate_drift_column_drifted"
    }
    assert flags == {c: float(col["drifted"]) for c, col in s["columns"].items()}
    assert {c for c, v in flags.items() if v == 1.0} == drifted(s)


def test_prediction_drift_and_its_self_test(
    tmp_path: Path, churn_artifact: Path, logs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(tmp_path, logs["covariate"], churn_artifact)
    code, s, _ = run(capsys, "prediction", "--config", str(cfg), "--end", END, "--days", "1")
    assert code == 1
    assert list(s["columns"]) == ["churn_probability"] and s["columns"]["churn_probability"]["drifted"]
    meta = json.loads((churn_artifact / "metadata.json").read_text())
    assert s["n_reference"] == meta["n_validation"] and s["reference"]["path"].endswith("val_scores.parquet")
    result = json.loads((tmp_path / "jobs" / "drift_prediction--training.json").read_text())
    values = {m["name"]: m["value"] for m in result["metrics"]}
    assert values["modelgate_prediction_drift_detected"] == 1.0
    assert values["modelgate_prediction_drift_score"] == s["columns"]["churn_probability"]["score"]

    code, st, _ = run(capsys, "prediction", "--config", str(cfg), "--self-test")
    assert code == 0 and st["passed"] is True
    assert not st["calm"]["drifted"] and st["shifted"]["drifted"]
    assert st["shifted"]["score"] > st["calm"]["score"]


def test_segments_by_tenant_use_pinned_methods(
    tmp_path: Path, churn_artifact: Path, logs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(tmp_path, logs["mixed"], churn_artifact, {"methods": {"monthly_charges": "psi"}})
    code, s, err = run(capsys, "data", "--config", str(cfg), "--end", END, "--days", "1", "--by", "tenant")
    seg = s["segments"]
    assert seg["by"] == "tenant" and set(seg["segments"]) == {"acme", "globex"}
    # The configured method is pinned, the others are the ones the whole window used.
    assert seg["methods"]["monthly_charges"] == "psi" == s["columns"]["monthly_charges"]["method"]
    assert seg["methods"] == {name: col["method"] for name, col in s["columns"].items()}
    acme, globex = seg["segments"]["acme"], seg["segments"]["globex"]
    assert (acme["n_current"], globex["n_current"]) == (1000, 1000)
    assert acme["verdict"] == "no_drift" and globex["verdict"] == "drift"
    assert {"monthly_charges", "tenure_months"} <= drifted(globex)
    for entry in (acme, globex):
        assert {name: col["method"] for name, col in entry["columns"].items()} == seg["methods"]
    assert code == (1 if s["verdict"] == "drift" else 0)
    assert "segment 2/2" in err


def test_trailing_comparison_uses_the_window_just_before(
    tmp_path: Path, churn_artifact: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two shifted days in a row: shifted against training, but calm against the day before.
    log = tmp_path / "log"
    simulate(log, churn_artifact, "--rows-per-day", "2000", "--shift", "covariate", "--days", "2")
    cfg = config(tmp_path, log, churn_artifact, {"max_rows": 1500})
    capsys.readouterr()  # the simulator's own summary
    argv = ["data", "--config", str(cfg), "--end", END, "--days", "1", "--against", "previous"]
    code, s, err = run(capsys, *argv)
    assert code == 0 and s["verdict"] == "no_drift" and s["against"] == "previous"
    assert s["reference"]["kind"] == "previous"
    assert (s["reference"]["start"], s["reference"]["end"]) == (
        "2025-03-08T00:00:00+00:00",
        DAY_BEFORE.replace("Z", "+00:00"),
    )
    # Both windows hold 2,000 rows and max_rows is 1,500: seeded samples, said in the JSON and on stderr.
    assert (s["n_current"], s["n_current_total"], s["n_reference"], s["sampled"]) == (1500, 2000, 1500, True)
    assert "seeded sample of 1,500" in err
    assert json.loads((tmp_path / "jobs" / "drift_data--previous.json").read_text())["variant"] == "previous"


def test_two_versions_in_a_window_are_split(
    tmp_path: Path, churn_artifact: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An older version served the first half of the day, the current one the second half.
    log = tmp_path / "log"
    simulate(
        log,
        churn_artifact,
        "--rows-per-day",
        "600",
        "--model-version",
        "churn-old",
        "--end",
        "2025-03-09T12:00:00Z",
    )
    simulate(log, churn_artifact, "--rows-per-day", "1500")
    version = version_of(churn_artifact)
    # The old version's artifact lives beside the current one, as a registry would keep it.
    models = tmp_path / "models"
    current = models / "churn"
    shutil.copytree(churn_artifact, current)
    old = models / "churn-old"
    shutil.copytree(churn_artifact, old)
    meta = json.loads((old / "metadata.json").read_text())
    (old / "metadata.json").write_text(json.dumps({**meta, "version": "churn-old"}))
    cfg = config(tmp_path, log, current)
    capsys.readouterr()  # the simulator's own summary

    code, s, err = run(capsys, "data", "--config", str(cfg), "--end", END, "--days", "1")
    assert code == 0
    # Rows of the old version between 00:00 and 12:00 of the window's day (the rest fall before it).
    n_old = s["versions_seen"]["churn-old"]
    assert s["versions_seen"] == {version: 1500, "churn-old": n_old} and n_old > 0
    assert s["model_version"] == version and s["n_current"] == 1500
    assert "holds 2 model versions" in err and "checking " + version in err

    code, s, _ = run(
        capsys, "data", "--config", str(cfg), "--end", END, "--days", "1", "--model-version", "churn-old"
    )
    assert code == 0 and s["model_version"] == "churn-old" and s["n_current"] == n_old
    assert s["reference"]["path"] == str(old / "train_reference.parquet")


def test_small_window_thresholds_are_calibrated_to_its_size(
    tmp_path: Path, churn_artifact: Path, logs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # 200 calm rows: fixed 0.1 thresholds flagged 2-3 of 7 columns of such windows (docs/drift.md).
    cfg = config(tmp_path, logs["small-calm"], churn_artifact)
    code, s, err = run(capsys, "data", "--config", str(cfg), "--end", END, "--days", "1")
    assert code == 0 and s["verdict"] == "no_drift" and s["n_current"] == 200
    cal = s["calibration"]
    assert (cal["n_rows"], cal["resamples"], cal["quantile"]) == (200, 50, 0.99)
    # At 200 rows the calm noise floor of a normed Wasserstein distance is above 0.1: raised.
    assert "tenure_months" in cal["raised"]
    for name, col in s["columns"].items():
        assert col["threshold"] == max(0.1, cal["calm_quantiles"][name])
    assert "thresholds calibrated at 200 rows" in err

    # The same size with a real covariate shift still trips the gate: calibration costs no detection here.
    cfg = config(tmp_path, logs["small-shift"], churn_artifact)
    code, s, _ = run(capsys, "data", "--config", str(cfg), "--end", END, "--days", "1")
    assert code == 1 and s["verdict"] == "drift"
    assert {"monthly_charges", "tenure_months", "contract_type"} <= drifted(s)


def test_window_below_min_rows_is_not_judged(
    tmp_path: Path, churn_artifact: Path, logs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(tmp_path, logs["tiny"], churn_artifact)
    code, s, err = run(capsys, "data", "--config", str(cfg), "--end", END, "--days", "1")
    assert (code, s["verdict"], s["n_current"], s["min_rows"]) == (0, "too_few_rows", 50, 100)
    assert "columns" not in s and "not judged" in err
    # A successful run (the staleness alert stays quiet) that publishes no drift gauge to alert on.
    result = json.loads((tmp_path / "jobs" / "drift_data--training.json").read_text())
    assert (result["status"], result["exit_code"], result["metrics"]) == ("ok", 0, [])

    # With min_rows lowered the same window is judged, with thresholds for its size.
    cfg = config(tmp_path, logs["tiny"], churn_artifact, {"min_rows": 20})
    code, s, _ = run(capsys, "data", "--config", str(cfg), "--end", END, "--days", "1")
    assert s["verdict"] in {"drift", "no_drift"} and s["calibration"]["n_rows"] == 50
