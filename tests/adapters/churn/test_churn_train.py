"""Training writes the whole artifact (docs/contracts.md "Churn artifact") atomically and sanely."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from adapters.churn.artifact import (
    ARTIFACT_FILES,
    METADATA_FILE,
    ArtifactError,
    ArtifactMetadata,
    load_metadata,
)
from adapters.churn.generator import generate_customers, true_churn_probability
from adapters.churn.schema import CATEGORIES, FEATURE_NAMES, NUMERIC_FEATURES
from adapters.churn.train import TrainArgumentError, train_model

ROWS = 3000


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ArtifactMetadata]:
    out = tmp_path_factory.mktemp("artifact") / "churn"
    return out, train_model(out, rows=ROWS, seed=7)


def test_writes_exactly_the_contract_files_and_no_leftovers(trained: tuple[Path, ArtifactMetadata]) -> None:
    out, _ = trained
    assert sorted(p.name for p in out.iterdir()) == sorted(ARTIFACT_FILES)
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no staging dir left beside it


def test_metadata_is_complete_and_sane(trained: tuple[Path, ArtifactMetadata]) -> None:
    out, meta = trained
    assert load_metadata(out) == meta
    raw = json.loads((out / METADATA_FILE).read_text())
    for key in ("version", "feature_schema", "train_auc", "validation_auc", "threshold", "data_hash"):
        assert key in raw
    for key in ("created_at", "n_train", "n_validation", "seed"):
        assert key in raw
    assert re.fullmatch(r"[0-9a-f]{64}", meta.data_hash)
    assert re.fullmatch(r"churn-\d{8}T\d{6}Z-[0-9a-f]{8}", meta.version)
    assert meta.version.endswith(meta.data_hash[:8])
    created = datetime.fromisoformat(meta.created_at)
    assert created.tzinfo is not None and created.utcoffset() is not None
    assert abs((datetime.now(UTC) - created).total_seconds()) < 600
    assert meta.version[6:14] == created.strftime("%Y%m%d")
    assert meta.n_train + meta.n_validation == ROWS
    assert meta.n_validation == pytest.approx(ROWS * 0.25, abs=1)
    assert meta.seed == 7 and meta.threshold == 0.5
    assert 0.72 <= meta.validation_auc <= 0.9 and 0.72 <= meta.train_auc <= 0.9
    schema = meta.feature_schema
    assert schema["names"] == list(FEATURE_NAMES)
    assert schema["categories"] == {k: list(v) for k, v in CATEGORIES.items()}
    assert {k for k, v in schema["kinds"].items() if v == "numeric"} == set(NUMERIC_FEATURES)
    assert set(schema["ranges"]) == set(NUMERIC_FEATURES)
    assert schema["observed_ranges"]["tenure_months"]["high"] <= 72


def test_train_reference_is_the_training_split(trained: tuple[Path, ArtifactMetadata]) -> None:
    out, meta = trained
    ref = pd.read_parquet(out / "train_reference.parquet")
    assert list(ref.columns) == [*FEATURE_NAMES, "churned"]
    assert len(ref) == meta.n_train
    assert ref["tenure_months"].dtype == np.int64 and ref["monthly_charges"].dtype == np.float64
    assert ref["contract_type"].map(type).eq(str).all()
    assert set(ref["churned"]) == {0, 1}
    assert meta.train_churn_rate == pytest.approx(ref["churned"].mean())


def test_val_scores_are_the_models_scores_on_the_validation_split(
    trained: tuple[Path, ArtifactMetadata],
) -> None:
    out, meta = trained
    val = pd.read_parquet(out / "val_scores.parquet")
    assert list(val.columns) == [*FEATURE_NAMES, "churn_probability", "churned"]
    assert len(val) == meta.n_validation
    assert val["churned"].dtype == np.int64
    pipeline = joblib.load(out / "model.joblib")
    np.testing.assert_allclose(
        val["churn_probability"], pipeline.predict_proba(val[list(FEATURE_NAMES)])[:, 1], atol=1e-12
    )
    assert roc_auc_score(val["churned"], val["churn_probability"]) == pytest.approx(meta.validation_auc)


def test_model_is_calibrated_against_the_true_function(trained: tuple[Path, ArtifactMetadata]) -> None:
    # The label-free estimate (CBPE) needs calibrated scores: compare with the known truth on fresh data.
    out, _ = trained
    pipeline = joblib.load(out / "model.joblib")
    fresh = generate_customers(20_000, seed=1234)
    model_p = pipeline.predict_proba(fresh)[:, 1]
    true_p = true_churn_probability(fresh)
    assert abs(model_p.mean() - true_p.mean()) < 0.025
    # 3,000 rows leave some estimation noise (≈ 0.02-0.027 across seeds); a miscalibrated model is far off
    assert np.mean(np.abs(model_p - true_p)) < 0.04


def test_same_seed_same_data_and_retraining_replaces_the_artifact(
    tmp_path: Path, trained: tuple[Path, ArtifactMetadata]
) -> None:
    _, first = trained
    out = tmp_path / "churn"
    again = train_model(out, rows=ROWS, seed=7)
    assert again.data_hash == first.data_hash
    assert again.validation_auc == pytest.approx(first.validation_auc, abs=1e-9)
    (out / "stale.txt").write_text("from an older run")
    other = train_model(out, rows=ROWS, seed=8)
    assert other.data_hash != first.data_hash
    assert load_metadata(out).data_hash == other.data_hash
    assert sorted(p.name for p in out.iterdir()) == sorted(ARTIFACT_FILES)
    assert [p.name for p in tmp_path.iterdir()] == ["churn"]


def test_refuses_to_replace_a_directory_that_is_not_an_artifact(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(ArtifactError, match="not empty"):
        train_model(tmp_path, rows=ROWS)
    assert (tmp_path / "precious.txt").read_text() == "keep me"
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(ArtifactError, match="not a directory"):
        train_model(a_file, rows=ROWS)


@pytest.mark.parametrize(("rows", "seed", "match"), [(50, 7, "rows"), (ROWS, -1, "seed")])
def test_bad_arguments(tmp_path: Path, rows: int, seed: int, match: str) -> None:
    with pytest.raises(TrainArgumentError, match=match):
        train_model(tmp_path / "m", rows=rows, seed=seed)
    assert not (tmp_path / "m").exists()


def test_load_metadata_errors_name_the_problem(
    tmp_path: Path, trained: tuple[Path, ArtifactMetadata]
) -> None:
    with pytest.raises(ArtifactError, match="not found"):
        load_metadata(tmp_path)
    (tmp_path / METADATA_FILE).write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_metadata(tmp_path)
    good = trained[1].to_dict()
    for key, value in (("n_train", None), ("threshold", 1.5), ("train_auc", True)):
        body = {k: v for k, v in good.items() if k != key} if value is None else {**good, key: value}
        (tmp_path / METADATA_FILE).write_text(json.dumps(body))
        with pytest.raises(ArtifactError, match=key):
            load_metadata(tmp_path)
