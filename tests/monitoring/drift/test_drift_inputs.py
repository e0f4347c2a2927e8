"""Input checks, settings and the artifact lookup of the drift jobs: no Evidently involved."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adapters.churn.generator import generate_customers
from adapters.churn.schema import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from monitoring.drift.checks import check_frame, check_probabilities, known_categories
from monitoring.drift.errors import DriftInputError
from monitoring.drift.reference import artifact_version, find_artifact, read_reference
from monitoring.drift.settings import drift_settings


@pytest.fixture()
def frame() -> pd.DataFrame:
    return generate_customers(300, seed=3)


def check(frame: pd.DataFrame, known: dict[str, set[str]] | None = None) -> None:
    check_frame(
        frame, where="current window", numeric=NUMERIC_FEATURES, categorical=CATEGORICAL_FEATURES, known=known
    )


def test_a_clean_frame_passes(frame: pd.DataFrame) -> None:
    check(frame, known_categories(frame, CATEGORICAL_FEATURES))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns=["contract_type"]), "missing column(s) contract_type"),
        (lambda f: f.iloc[:0], "no rows"),
        (lambda f: f.assign(monthly_charges=np.where(f.index < 3, np.nan, f.monthly_charges)), "3 missing"),
        (lambda f: f.assign(tenure_months=f.tenure_months.astype(str)), "not numeric"),
        (lambda f: f.assign(total_charges=np.where(f.index == 0, np.inf, f.total_charges)), "infinite"),
        (lambda f: f.assign(payment_method=f.payment_method.where(f.index > 0, None)), "1 missing"),
    ],
)
def test_bad_frames_are_refused_with_a_line_naming_the_problem(
    frame: pd.DataFrame, mutate: Callable[[pd.DataFrame], pd.DataFrame], message: str
) -> None:
    with pytest.raises(DriftInputError, match=re.escape(message)) as info:
        check(mutate(frame))
    assert "\n" not in str(info.value) and str(info.value).startswith("current window")


def test_a_category_never_seen_in_training_is_refused(frame: pd.DataFrame) -> None:
    known = known_categories(frame, CATEGORICAL_FEATURES)
    bad = frame.assign(contract_type=frame.contract_type.where(frame.index > 0, "weekly"))
    with pytest.raises(
        DriftInputError, match="contract_type has categories never seen in training: 'weekly'"
    ):
        check(bad, known)


def test_probabilities_must_lie_in_0_1() -> None:
    check_probabilities(pd.DataFrame({"p": [0.0, 0.5, 1.0]}), "p", where="w")
    with pytest.raises(DriftInputError, match="1 value"):
        check_probabilities(pd.DataFrame({"p": [0.2, 1.2]}), "p", where="w")


def test_settings_defaults_and_validation(tmp_path: Path) -> None:
    s = drift_settings({}, tmp_path)
    assert (s.gates.share_gate, s.gates.retrain_gate, s.max_rows, s.days) == (0.3, 0.6, 200_000, 7)
    s = drift_settings(
        {"share_gate": 0.5, "methods": {"monthly_charges": "psi"}, "artifacts": {"v0": "models/v0"}}, tmp_path
    )
    assert s.gates.share_gate == 0.5 and s.methods == {"monthly_charges": "psi"}
    assert s.artifacts == {"v0": tmp_path / "models/v0"}
    for bad in (
        {"share_gate": "high"},
        {"share_gate": 0},
        {"max_rows": 0},
        {"bogus": 1},
        {"methods": ["psi"]},
    ):
        with pytest.raises(DriftInputError, match=r"monitoring\.drift"):
            drift_settings(bad, tmp_path)


def copy_as_version(artifact: Path, dest: Path, version: str) -> Path:
    shutil.copytree(artifact, dest)
    meta = json.loads((dest / "metadata.json").read_text())
    meta["version"] = version
    (dest / "metadata.json").write_text(json.dumps(meta))
    return dest


def test_artifact_lookup_order_config_then_current_then_sibling(churn_artifact: Path, tmp_path: Path) -> None:
    current = copy_as_version(churn_artifact, tmp_path / "models" / "churn", "v-current")
    sibling = copy_as_version(churn_artifact, tmp_path / "models" / "v-old", "v-old")
    mapped = copy_as_version(churn_artifact, tmp_path / "elsewhere", "v-mapped")
    assert artifact_version(current) == "v-current"
    assert find_artifact("v-current", current=current, mapping={}) == current
    assert find_artifact("v-old", current=current, mapping={}) == sibling
    assert find_artifact("v-mapped", current=current, mapping={"v-mapped": mapped}) == mapped
    with pytest.raises(DriftInputError, match=r"points at .*elsewhere, which holds version v-mapped"):
        find_artifact("v-other", current=current, mapping={"v-other": mapped})
    with pytest.raises(
        DriftInputError, match=r"no churn artifact for model version v-gone.*is version v-current"
    ):
        find_artifact("v-gone", current=current, mapping={})


def test_reference_is_read_by_column_and_sampled_when_large(churn_artifact: Path) -> None:
    path = churn_artifact / "train_reference.parquet"
    full = read_reference(path, ["tenure_months"], max_rows=1_000_000, seed=0)
    assert list(full.frame.columns) == ["tenure_months"] and not full.sampled
    small = read_reference(path, ["tenure_months"], max_rows=500, seed=0)
    assert (len(small.frame), small.n_rows_total, small.sampled) == (500, full.n_rows_total, True)
    with pytest.raises(DriftInputError, match="missing column"):
        read_reference(path, ["tenant"], max_rows=10, seed=0)
    with pytest.raises(DriftInputError, match="not found"):
        read_reference(path.with_name("nope.parquet"), ["tenure_months"], max_rows=10, seed=0)
