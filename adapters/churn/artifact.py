"""The churn artifact on disk: its file names, its metadata, and how a new one replaces the old.

The layout is the contract in docs/contracts.md ("Churn artifact"). A directory holds:

    model.joblib             the fitted scikit-learn Pipeline
    metadata.json            ArtifactMetadata (version, feature schema, AUCs, threshold, data hash, ...)
    train_reference.parquet  training features + `churned`  (the drift jobs' reference)
    val_scores.parquet       validation features + `churn_probability` + `churned`  (CBPE calibration)

Errors, all carrying a one-line message for the user:

    ArtifactError                  missing/unreadable files, malformed metadata, unsafe --out
    └── UnsupportedPipelineError   model.joblib holds a pipeline the fast predictor does not understand

    >>> meta = load_metadata(Path("data/models/churn"))   # doctest: +SKIP
    >>> meta.version                                       # doctest: +SKIP
    'churn-20251126T135100Z-1a2b3c4d'
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from adapters.churn.schema import CATEGORIES, FEATURE_NAMES, NUMERIC_FEATURES, NUMERIC_RANGES

__all__ = [
    "ARTIFACT_FILES",
    "METADATA_FILE",
    "MODEL_FILE",
    "TRAIN_REFERENCE_FILE",
    "VAL_SCORES_FILE",
    "ArtifactError",
    "ArtifactMetadata",
    "UnsupportedPipelineError",
    "check_replaceable",
    "data_hash",
    "feature_schema",
    "load_metadata",
    "make_version",
    "replace_dir",
]

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
TRAIN_REFERENCE_FILE = "train_reference.parquet"
VAL_SCORES_FILE = "val_scores.parquet"
ARTIFACT_FILES: tuple[str, ...] = (MODEL_FILE, METADATA_FILE, TRAIN_REFERENCE_FILE, VAL_SCORES_FILE)


class ArtifactError(Exception):
    """The artifact cannot be written or read as asked. The message is one line for the user."""


class UnsupportedPipelineError(ArtifactError):
    """The pickled pipeline is not the one-hot + scaler + logistic-regression shape the predictor knows."""


@dataclass(frozen=True)
class ArtifactMetadata:
    """What `metadata.json` holds. `version` names the model in logs, metrics and partition paths."""

    version: str
    feature_schema: dict[str, Any]
    train_auc: float
    validation_auc: float
    threshold: float
    data_hash: str
    created_at: str
    n_train: int
    n_validation: int
    seed: int
    # Beyond the contract's list: useful when a pickle will not load, and for a sanity check on labels.
    sklearn_version: str = ""
    train_churn_rate: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "metadata") -> ArtifactMetadata:
        """Build from parsed JSON, refusing missing or mistyped fields with a message naming them."""
        if not isinstance(data, dict):
            raise ArtifactError(f"{source}: expected a JSON object")
        required: dict[str, tuple[type, ...]] = {
            "version": (str,),
            "feature_schema": (dict,),
            "train_auc": (int, float),
            "validation_auc": (int, float),
            "threshold": (int, float),
            "data_hash": (str,),
            "created_at": (str,),
            "n_train": (int,),
            "n_validation": (int,),
            "seed": (int,),
        }
        for key, types in required.items():
            if key not in data:
                raise ArtifactError(f"{source}: missing field {key!r}")
            # bool is an int subclass; a true/false here is a mistake, not a number.
            if isinstance(data[key], bool) or not isinstance(data[key], types):
                raise ArtifactError(f"{source}: field {key!r} has the wrong type")
        if not 0.0 <= data["threshold"] <= 1.0:
            raise ArtifactError(f"{source}: threshold {data['threshold']} is not in [0, 1]")
        rate = data.get("train_churn_rate")
        return cls(
            version=data["version"],
            feature_schema=data["feature_schema"],
            train_auc=float(data["train_auc"]),
            validation_auc=float(data["validation_auc"]),
            threshold=float(data["threshold"]),
            data_hash=data["data_hash"],
            created_at=data["created_at"],
            n_train=data["n_train"],
            n_validation=data["n_validation"],
            seed=data["seed"],
            sklearn_version=str(data.get("sklearn_version", "")),
            train_churn_rate=float(rate) if isinstance(rate, (int, float)) else None,
        )


def load_metadata(artifact_dir: Path) -> ArtifactMetadata:
    """Read and check `<artifact_dir>/metadata.json`."""
    path = Path(artifact_dir) / METADATA_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ArtifactError(f"{path} not found (train one with `modelgate churn train`)") from None
    except OSError as exc:
        raise ArtifactError(f"{path}: {exc.strerror}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ArtifactError(f"{path} is not valid JSON") from exc
    return ArtifactMetadata.from_dict(data, source=str(path))


def data_hash(frame: pd.DataFrame) -> str:
    """A sha256 over the column names and every cell, stable across runs and machines."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def make_version(created: datetime, hash_hex: str) -> str:
    """`churn-<UTC timestamp>-<8 hex of the data hash>`: sorts by training time, names the data.

    No colons or slashes, since the version is a directory name in the prediction log's partitions.
    """
    return f"churn-{created.strftime('%Y%m%dT%H%M%SZ')}-{hash_hex[:8]}"


def feature_schema(train: pd.DataFrame) -> dict[str, Any]:
    """The schema recorded in metadata: names, kinds, categories, served ranges and training ranges."""
    kinds = {name: ("numeric" if name in NUMERIC_FEATURES else "categorical") for name in FEATURE_NAMES}
    return {
        "names": list(FEATURE_NAMES),
        "kinds": kinds,
        "categories": {name: list(values) for name, values in CATEGORIES.items()},
        "ranges": {
            name: {"low": r.low, "high": r.high, "integer": r.integer} for name, r in NUMERIC_RANGES.items()
        },
        "observed_ranges": {
            name: {"low": float(train[name].min()), "high": float(train[name].max())}
            for name in NUMERIC_FEATURES
        },
    }


def check_replaceable(out_dir: Path) -> None:
    """Refuse an `--out` that is a file, or a non-empty directory that does not hold an artifact.

    Training replaces the whole directory, so pointing it at, say, the project root must fail up front.
    """
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ArtifactError(f"{out_dir} exists and is not a directory")
    if any(out_dir.iterdir()) and not (out_dir / METADATA_FILE).is_file():
        raise ArtifactError(f"refusing to replace {out_dir}: it is not empty and holds no {METADATA_FILE}")


def replace_dir(staging: Path, out_dir: Path) -> None:
    """Put the finished `staging` directory at `out_dir`, replacing an older artifact there.

    A rename into a missing path is atomic. An existing directory cannot be renamed over, so it is
    first renamed aside (readers see either the old or the new complete set of files, or, for the
    instant between two renames, nothing), then deleted. Both paths share a parent, so no copy happens.
    """
    check_replaceable(out_dir)
    if not out_dir.exists():
        os.rename(staging, out_dir)
        return
    aside = out_dir.with_name(f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(out_dir, aside)
    try:
        os.rename(staging, out_dir)
    except OSError:
        with contextlib.suppress(OSError):
            os.rename(aside, out_dir)
        raise
    shutil.rmtree(aside, ignore_errors=True)
