"""Gateway fixtures: settings on a temp data dir with two tenants whose keys the tests know."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.auth import hash_key
from gateway.settings import Settings

from conftest_helpers import ACME_KEY, DEV_KEY, GLOBEX_KEY


@pytest.fixture
def make_settings(tmp_path: Path, churn_artifact: Path) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        raw: dict[str, Any] = {
            "mode": "development",
            "development_key": DEV_KEY,
            "data_dir": str(tmp_path / "data"),
            "churn": {"artifact_dir": str(churn_artifact), "batch_limit": 50},
            "prediction_log": {"flush_rows": 100, "flush_seconds": 0.2},
            "tenants": [
                {"name": "acme", "key_sha256": hash_key(ACME_KEY), "daily_usd": 10.0, "monthly_usd": 100.0},
                {"name": "globex", "key_sha256": hash_key(GLOBEX_KEY)},
            ],
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(raw.get(key), dict):
                raw[key] = {**raw[key], **value}
            else:
                raw[key] = value
        return Settings(**raw)

    return build
