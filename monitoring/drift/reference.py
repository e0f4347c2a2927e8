"""The drift references: the training snapshot and validation scores of the model version being checked.

The artifact layout is the contract in docs/contracts.md ("Churn artifact"), read by schema: `metadata.json`
names the version, `train_reference.parquet` holds the training features, `val_scores.parquet` the
validation split's `churn_probability`.

A reference must belong to the version the window was served by. `find_artifact(version, ...)` looks, in
this order, at:
1. `monitoring.drift.artifacts.<version>` in the config (an explicit folder per version);
2. the current artifact (`churn.artifact_dir`), when its metadata names that version;
3. the sibling folder `<artifact_dir>/../<version>/` (a registry that keeps one folder per version);
and refuses (exit 2) with a message saying where it looked, rather than judge one model's traffic
against another model's training data.

    folder = find_artifact("churn-2025...-1a2b3c4d", current=cfg.artifact_dir, mapping=settings.artifacts)
    ref = read_reference(folder / TRAIN_REFERENCE_FILE, FEATURE_NAMES, max_rows=200_000, seed=0)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from monitoring.drift.errors import DriftInputError

__all__ = [
    "METADATA_FILE",
    "TRAIN_REFERENCE_FILE",
    "VAL_SCORES_FILE",
    "Reference",
    "artifact_version",
    "find_artifact",
    "read_reference",
]

METADATA_FILE = "metadata.json"
TRAIN_REFERENCE_FILE = "train_reference.parquet"
VAL_SCORES_FILE = "val_scores.parquet"


@dataclass(frozen=True)
class Reference:
    """A reference frame, where it came from, and whether it was sampled down to `max_rows`."""

    frame: pd.DataFrame
    source: str
    n_rows_total: int
    sampled: bool


def artifact_version(folder: Path) -> str | None:
    """The `version` in `<folder>/metadata.json`, or None when there is no artifact there."""
    path = folder / METADATA_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DriftInputError(f"{path} cannot be read as JSON: {exc}") from None
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(version, str) or not version:
        raise DriftInputError(f"{path} names no model version")
    return version


def find_artifact(version: str, *, current: Path, mapping: Mapping[str, Path]) -> Path:
    """The artifact folder of `version` (see the module docstring for the search order)."""
    if version in mapping:
        folder = mapping[version]
        found = artifact_version(folder)
        if found != version:
            held = f"holds version {found}" if found else "holds no artifact"
            raise DriftInputError(f"monitoring.drift.artifacts.{version} points at {folder}, which {held}")
        return folder
    current_version = artifact_version(current)
    if current_version == version:
        return current
    sibling = current.parent / version
    if sibling != current and artifact_version(sibling) == version:
        return sibling
    held = f"is version {current_version}" if current_version else "holds no artifact"
    raise DriftInputError(
        f"no churn artifact for model version {version}: {current} {held} and {sibling} does not exist; "
        f"set monitoring.drift.artifacts.{version}, or compare with --against previous"
    )


def read_reference(path: Path, columns: Sequence[str], *, max_rows: int, seed: int) -> Reference:
    """Read `columns` of a reference Parquet file, a seeded uniform sample when it exceeds `max_rows`."""
    try:
        schema = pq.read_schema(path)
    except FileNotFoundError:
        raise DriftInputError(f"reference {path} not found") from None
    except (OSError, pa.ArrowInvalid) as exc:
        raise DriftInputError(f"reference {path} cannot be read: {exc}") from None
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise DriftInputError(f"reference {path}: missing column(s) {', '.join(missing)}")
    try:
        table = pq.read_table(path, columns=list(columns))
    except (OSError, pa.ArrowInvalid) as exc:
        raise DriftInputError(f"reference {path} cannot be read: {exc}") from None
    total = table.num_rows
    sampled = total > max_rows
    if sampled:
        rng = np.random.default_rng(seed)
        table = table.take(pa.array(np.sort(rng.choice(total, size=max_rows, replace=False))))
    return Reference(table.to_pandas(), str(path), total, sampled)
