"""Drift per segment (`--by tenant`), with the methods the whole window used pinned.

Evidently picks a method per column from the REFERENCE size, so left alone a small segment compared with
a small reference would switch from distances to p-values and its scores would not line up with the
other segments'. Every segment therefore reuses the whole window's methods and thresholds, raised to the
segment's own size (`calibrate`, see monitoring/drift/calibrate.py): a small tenant's calm segment must
not cry wolf just because it is small.

A segment's reference is the reference's rows of the same segment when the reference has the column
(`--against previous`: the tenant's own trailing window), else the whole reference (the training snapshot
has no tenants). Segments are reported in the JSON only; the exit code stays the whole window's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from monitoring.drift.calibrate import Calibration
from monitoring.drift.engine import DriftRun, run_drift
from monitoring.drift.verdict import Gates, columns_json, decide

__all__ = ["segment_drift"]


def segment_drift(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    by: str,
    whole: DriftRun,
    numeric: Sequence[str],
    categorical: Sequence[str],
    gates: Gates,
    min_rows: int,
    max_segments: int,
    say: Callable[[str], None],
    calibrate: Callable[[pd.DataFrame, pd.DataFrame, dict[str, str], dict[str, float]], Calibration | None],
) -> dict[str, Any]:
    """`{"by", "methods", "segments": {name: {...}}, "not_reported"}` for the JSON summary."""
    methods = whole.methods
    thresholds = {c.column: c.threshold for c in whole.columns}
    sizes = current[by].astype(str).value_counts()
    reported = sizes.iloc[:max_segments]
    per_reference = by in reference.columns
    segments: dict[str, Any] = {}
    for i, (name, n_current) in enumerate(reported.items(), start=1):
        cur = current[current[by].astype(str) == name]
        ref = reference[reference[by].astype(str) == name] if per_reference else reference
        entry: dict[str, Any] = {"n_current": int(n_current), "n_reference": len(ref)}
        if n_current < min_rows or len(ref) < min_rows:
            entry["skipped"] = f"fewer than {min_rows} current or reference rows"
            segments[str(name)] = entry
            continue
        say(f"segment {i}/{len(reported)}: {by}={name} ({n_current:,} rows)")
        cal = calibrate(cur, ref, methods, thresholds)
        run = run_drift(
            cur,
            ref,
            numeric=numeric,
            categorical=categorical,
            methods=methods,
            thresholds=cal.thresholds if cal is not None else thresholds,
        )
        entry |= decide(run.columns, gates).as_json()
        entry["calibration"] = cal.as_json() if cal is not None else None
        entry["columns"] = columns_json(run.columns)
        segments[str(name)] = entry
    return {
        "by": by,
        "methods": methods,
        "reference": "per segment" if per_reference else "whole reference",
        "segments": segments,
        "not_reported": int(len(sizes) - len(reported)),
    }
