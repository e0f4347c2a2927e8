"""Train the churn model on generated customers and write a versioned artifact directory.

    >>> meta = train_model(Path("data/models/churn"), rows=20_000, seed=7)   # doctest: +SKIP
    >>> meta.validation_auc                                                  # doctest: +SKIP
    0.80...

The pipeline is deliberately the shape `ChurnPredictor` understands (scaler + one-hot + logistic
regression): the predictor re-implements its arithmetic for speed and refuses anything else.
Files are written to a hidden staging directory next to `out_dir` and moved into place only when all
four are complete, so a reader never sees half an artifact.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from adapters.churn.artifact import (
    METADATA_FILE,
    MODEL_FILE,
    TRAIN_REFERENCE_FILE,
    VAL_SCORES_FILE,
    ArtifactMetadata,
    check_replaceable,
    data_hash,
    feature_schema,
    make_version,
    replace_dir,
)
from adapters.churn.generator import generate_labelled
from adapters.churn.schema import CATEGORICAL_FEATURES, CATEGORIES, FEATURE_NAMES, NUMERIC_FEATURES

__all__ = [
    "LABEL_COLUMN",
    "MIN_ROWS",
    "SCORE_COLUMN",
    "VALIDATION_SHARE",
    "TrainArgumentError",
    "build_pipeline",
    "train_model",
]

LABEL_COLUMN = "churned"
SCORE_COLUMN = "churn_probability"
VALIDATION_SHARE = 0.25
# Below this a stratified split leaves too few churners in validation for a meaningful AUC.
MIN_ROWS = 200


class TrainArgumentError(ValueError):
    """An argument to `train_model` is out of range; the message is one line for the user."""


def build_pipeline() -> Pipeline:
    """An unfitted pipeline: StandardScaler on numeric, one-hot in schema order, logistic regression."""
    encoder = OneHotEncoder(
        categories=[list(CATEGORIES[name]) for name in CATEGORICAL_FEATURES],
        handle_unknown="error",
        sparse_output=False,
    )
    features = ColumnTransformer(
        [("num", StandardScaler(), list(NUMERIC_FEATURES)), ("cat", encoder, list(CATEGORICAL_FEATURES))],
        remainder="drop",
    )
    return Pipeline([("features", features), ("model", LogisticRegression(max_iter=1000))])


def train_model(
    out_dir: Path,
    *,
    rows: int = 20_000,
    seed: int = 7,
    threshold: float = 0.5,
    progress: Callable[[str], None] | None = None,
) -> ArtifactMetadata:
    """Generate `rows` labelled customers, fit, evaluate and write the artifact to `out_dir`.

    Raises `ArtifactError` for an unusable `out_dir` (checked before any work), `TrainArgumentError` for bad
    arguments, `OSError` when the files cannot be written.
    """
    say = progress or (lambda _msg: None)
    if rows < MIN_ROWS:
        raise TrainArgumentError(f"rows must be at least {MIN_ROWS}, got {rows}")
    if seed < 0:
        raise TrainArgumentError(f"seed must be >= 0, got {seed}")
    if not 0.0 <= threshold <= 1.0:
        raise TrainArgumentError(f"threshold must be in [0, 1], got {threshold}")
    # Resolved so that `--out .` or `--out x/..` still has a real name and parent to stage beside.
    out_dir = Path(out_dir).resolve()
    check_replaceable(out_dir)

    say(f"generating {rows} customers (seed {seed})")
    data = generate_labelled(rows, seed=seed)
    hash_hex = data_hash(data)
    train, val = train_test_split(
        data, test_size=VALIDATION_SHARE, random_state=seed, stratify=data[LABEL_COLUMN]
    )
    train = train.reset_index(drop=True)
    val = val.reset_index(drop=True)

    say(f"fitting on {len(train)} rows, validating on {len(val)}")
    pipeline = build_pipeline()
    pipeline.fit(train[list(FEATURE_NAMES)], train[LABEL_COLUMN])
    train_scores = pipeline.predict_proba(train[list(FEATURE_NAMES)])[:, 1]
    val_scores = pipeline.predict_proba(val[list(FEATURE_NAMES)])[:, 1]

    created = datetime.now(UTC).replace(microsecond=0)
    meta = ArtifactMetadata(
        version=make_version(created, hash_hex),
        feature_schema=feature_schema(train),
        train_auc=float(roc_auc_score(train[LABEL_COLUMN], train_scores)),
        validation_auc=float(roc_auc_score(val[LABEL_COLUMN], val_scores)),
        threshold=threshold,
        data_hash=hash_hex,
        created_at=created.isoformat().replace("+00:00", "Z"),
        n_train=len(train),
        n_validation=len(val),
        seed=seed,
        sklearn_version=sklearn.__version__,
        train_churn_rate=float(train[LABEL_COLUMN].mean()),
    )
    val_out = val[list(FEATURE_NAMES)].copy()
    val_out[SCORE_COLUMN] = val_scores.astype(np.float64)
    val_out[LABEL_COLUMN] = val[LABEL_COLUMN].astype(np.int64)

    say(f"writing artifact {meta.version} to {out_dir}")
    _write_atomically(out_dir, pipeline, meta, train[[*FEATURE_NAMES, LABEL_COLUMN]], val_out)
    return meta


def _write_atomically(
    out_dir: Path, pipeline: Pipeline, meta: ArtifactMetadata, train: pd.DataFrame, val: pd.DataFrame
) -> None:
    """Write the four files into a staging directory beside `out_dir`, then swap it into place."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        joblib.dump(pipeline, staging / MODEL_FILE)
        train.to_parquet(staging / TRAIN_REFERENCE_FILE, index=False)
        val.to_parquet(staging / VAL_SCORES_FILE, index=False)
        body = json.dumps(meta.to_dict(), indent=2, sort_keys=True) + "\n"
        (staging / METADATA_FILE).write_text(body, encoding="utf-8")
        # mkdtemp makes the directory 0700; the artifact is read by other processes and users.
        staging.chmod(0o755)
        replace_dir(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
