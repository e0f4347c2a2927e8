"""Refuse input the drift verdict cannot be trusted on, with one line naming the problem.

Evidently would otherwise drop NaNs silently, treat a new category as drift, or crash on a missing column;
a drift job must say "your input is broken" (exit 2), not "your model drifted" (exit 1).

    check_frame(current, where="current window", numeric=NUMERIC_FEATURES,
                categorical=CATEGORICAL_FEATURES, known=known_categories(reference, CATEGORICAL_FEATURES))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from monitoring.drift.errors import DriftInputError

__all__ = ["check_frame", "check_probabilities", "known_categories"]

# How many offending values a message lists before it says "…".
_SHOW = 5


def _listing(values: Sequence[object]) -> str:
    shown = ", ".join(repr(v) for v in values[:_SHOW])
    return shown + (", …" if len(values) > _SHOW else "")


def known_categories(frame: pd.DataFrame, columns: Sequence[str]) -> dict[str, set[str]]:
    """The categories a reference frame holds, per column."""
    return {c: set(frame[c].dropna().astype(str).unique()) for c in columns if c in frame.columns}


def check_frame(
    frame: pd.DataFrame,
    *,
    where: str,
    numeric: Sequence[str] = (),
    categorical: Sequence[str] = (),
    known: Mapping[str, set[str]] | None = None,
) -> None:
    """Columns present, not empty, no NaN/null, numeric columns numeric, categories all `known`."""
    missing = [c for c in (*numeric, *categorical) if c not in frame.columns]
    if missing:
        raise DriftInputError(f"{where}: missing column(s) {', '.join(missing)}")
    if len(frame) == 0:
        raise DriftInputError(f"{where}: no rows")
    for column in numeric:
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
            raise DriftInputError(f"{where}: column {column} is not numeric (dtype {frame[column].dtype})")
    for column in (*numeric, *categorical):
        n_null = int(frame[column].isna().sum())
        if n_null:
            raise DriftInputError(f"{where}: column {column} has {n_null} missing (NaN/null) value(s)")
    for column in numeric:
        n_inf = int(np.isinf(frame[column].to_numpy(dtype=np.float64)).sum())
        if n_inf:
            raise DriftInputError(f"{where}: column {column} has {n_inf} infinite value(s)")
    for column in categorical:
        if known is None or column not in known:
            continue
        unseen = sorted(set(frame[column].astype(str).unique()) - known[column])
        if unseen:
            raise DriftInputError(
                f"{where}: column {column} has categories never seen in training: {_listing(unseen)}"
            )


def check_probabilities(frame: pd.DataFrame, column: str, *, where: str) -> None:
    """A score column: present, numeric, no NaN, every value in [0, 1]."""
    check_frame(frame, where=where, numeric=[column])
    outside = int(((frame[column] < 0.0) | (frame[column] > 1.0)).sum())
    if outside:
        raise DriftInputError(f"{where}: column {column} has {outside} value(s) outside [0, 1]")
