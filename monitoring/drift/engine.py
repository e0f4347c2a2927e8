"""Evidently 0.7, behind one call: two frames in, per-column drift results out.

Importing Evidently takes 15-17 s, so nothing here imports it at module level: `run_drift` does, on
first use, with `DO_NOT_TRACK=1` so its telemetry client stays quiet (jobs must run with no network).

Verdicts come from bare `ValueDrift` metrics (one per column) plus one `DriftedColumnsCount`, never from
`DataDriftPreset`, which always builds its HTML widgets and is about 3.5x slower. Per column, Evidently
chooses the method from the reference size and column kind unless `methods` pins one (a stattest id such
as `wasserstein`, `jensenshannon`, `psi`, `ks`, `chisquare`); segment runs pin the methods the whole
window used, so tenants are compared on one footing.

    run = run_drift(current, reference, numeric=["tenure_months"], categorical=["contract_type"])
    run.columns[0].method, run.columns[0].score, run.columns[0].drifted
    save_html(run, Path("drift.html"))       # only when the user asked for --html
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from monitoring.drift.errors import DriftInputError
from monitoring.drift.verdict import ColumnDrift

__all__ = ["DriftRun", "import_evidently", "method_labels", "run_drift", "save_html"]

_VALUE_DRIFT = "evidently:metric_v2:ValueDrift"
_DRIFTED_COUNT = "evidently:metric_v2:DriftedColumnsCount"


@dataclass(frozen=True)
class DriftRun:
    """Per-column results, Evidently's own share of drifted columns, and the snapshot (for HTML)."""

    columns: list[ColumnDrift]
    evidently_share: float | None
    snapshot: Any

    @property
    def methods(self) -> dict[str, str]:
        """The method each column used, as stattest ids: what a segment run pins."""
        return {c.column: c.method for c in self.columns}


def import_evidently() -> None:
    """Import Evidently (slow) with its telemetry off. Idempotent."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    import evidently  # noqa: F401


@cache
def method_labels() -> dict[str, str]:
    """Stattest id -> Evidently's display label, for every registered stattest."""
    import_evidently()
    from evidently.legacy.calculations import stattests

    found = (getattr(stattests, name) for name in stattests.__all__)
    return {t.name: t.display_name for t in found if isinstance(t, stattests.StatTest) and t.name}


def _method_id(method: str) -> str:
    """Evidently reports an auto-chosen method by its label and a pinned one by its id; we store ids."""
    if method in method_labels():
        return method
    by_label = {label: name for name, label in method_labels().items()}
    return by_label.get(method, method)


def _check_methods(methods: Mapping[str, str], numeric: Sequence[str], categorical: Sequence[str]) -> None:
    """Refuse a configured method that does not exist or does not fit the column's kind."""
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    kinds = {**{c: ColumnType.Numerical for c in numeric}, **{c: ColumnType.Categorical for c in categorical}}
    for column, method in methods.items():
        if column not in kinds:
            continue
        try:
            get_registered_stattest(method, kinds[column])
        except ValueError:
            known = ", ".join(sorted(method_labels()))
            raise DriftInputError(
                f"drift method {method!r} for column {column} is unknown or does not fit a "
                f"{kinds[column].value} column (known: {known})"
            ) from None


def run_drift(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> DriftRun:
    """Compare `current` with `reference` column by column (frames already checked by `checks`)."""
    import_evidently()
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import DriftedColumnsCount, ValueDrift

    methods = dict(methods or {})
    thresholds = dict(thresholds or {})
    _check_methods(methods, numeric, categorical)
    columns = [*numeric, *categorical]
    definition = DataDefinition(numerical_columns=list(numeric), categorical_columns=list(categorical))
    metrics: list[Any] = [
        ValueDrift(column=c, method=methods.get(c), threshold=thresholds.get(c)) for c in columns
    ]
    metrics.append(
        DriftedColumnsCount(
            columns=columns,
            per_column_method={c: m for c, m in methods.items() if c in columns} or None,
            per_column_threshold={c: t for c, t in thresholds.items() if c in columns} or None,
        )
    )
    report = Report(metrics, include_tests=True)
    snapshot = report.run(
        Dataset.from_pandas(current[columns], data_definition=definition),
        Dataset.from_pandas(reference[columns], data_definition=definition),
    )
    results, share = _read_snapshot(snapshot.dict())
    missing = [c for c in columns if c not in results]
    if missing:
        raise RuntimeError(f"Evidently returned no drift result for {missing}")
    return DriftRun([results[c] for c in columns], share, snapshot)


def _read_snapshot(body: dict[str, Any]) -> tuple[dict[str, ColumnDrift], float | None]:
    """Per-column results from `Snapshot.dict()`: the score in the metric, the decision in its test."""
    failed = {
        t["metric_config"]["metric_id"]: t["status"] == "FAIL"
        for t in body.get("tests", [])
        if t.get("metric_config", {}).get("params", {}).get("type") == _VALUE_DRIFT
    }
    results: dict[str, ColumnDrift] = {}
    share: float | None = None
    for metric in body["metrics"]:
        config = metric.get("config", {})
        if config.get("type") == _VALUE_DRIFT:
            method = _method_id(str(config["method"]))
            results[config["column"]] = ColumnDrift(
                column=config["column"],
                method=method,
                method_name=method_labels().get(method, method),
                score=float(metric["value"]),
                threshold=float(config["threshold"]),
                drifted=bool(failed[metric["id"]]),
            )
        elif config.get("type") == _DRIFTED_COUNT:
            share = float(metric["value"]["share"])
    return results, share


def save_html(run: DriftRun, path: Path) -> None:
    """Render Evidently's HTML for a run already made: no second computation."""
    path.parent.mkdir(parents=True, exist_ok=True)
    run.snapshot.save_html(str(path))
