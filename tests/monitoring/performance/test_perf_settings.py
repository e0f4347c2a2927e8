"""`monitoring.performance` and `monitoring.labels` sections: defaults and refusals."""

from __future__ import annotations

import pytest

from monitoring.labels.parse import LabelColumns
from monitoring.labels.settings import LabelsSettingsError, labels_settings
from monitoring.performance.settings import (
    PerformanceSettings,
    PerformanceSettingsError,
    performance_settings,
)


def test_defaults():
    assert performance_settings({}) == PerformanceSettings(
        days=90, window="weekly", auc_drop=0.05, min_labels=1000, max_pending_share=0.2, calibration="platt"
    )
    labels = labels_settings({})
    assert labels.columns == LabelColumns() and labels.rule.window_days == 37


def test_values_are_read():
    s = performance_settings({"days": 30, "window": "daily", "auc_drop": 0.1, "calibration": "isotonic"})
    assert (s.days, s.window, s.auc_drop, s.calibration) == (30, "daily", 0.1, "isotonic")
    labels = labels_settings(
        {"columns": {"churned": "status"}, "horizon_days": 60, "delay_allowance_days": 0}
    )
    assert labels.columns == LabelColumns(churned="status") and labels.rule.window_days == 60


@pytest.mark.parametrize(
    "section",
    [
        {"auc_drop": 1.5},
        {"auc_drop": True},
        {"min_labels": 0},
        {"days": "90"},
        {"window": "monthly"},
        {"max_pending_share": 2},
        {"bootstrap": -1},
        {"mystery": 1},
    ],
)
def test_performance_refusals(section):
    with pytest.raises(PerformanceSettingsError):
        performance_settings(section)


@pytest.mark.parametrize(
    "section",
    [
        {"columns": {"label": "x"}},
        {"columns": ["customer_id"]},
        {"columns": {"churned": ""}},
        {"horizon_days": 0},
        {"delay_allowance_days": 1.5},
        {"horizon": 30},
    ],
)
def test_labels_refusals(section):
    with pytest.raises(LabelsSettingsError):
        labels_settings(section)
