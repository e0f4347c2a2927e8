"""Fixtures shared by every test tier: a clean environment, a trained churn artifact, free ports."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

_OWNED_PREFIXES = ("MODELGATE_", "OTEL_", "LANGFUSE_", "OPENAI_")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees the developer's MODELGATE_/OTEL_/LANGFUSE_/OPENAI_ settings; Evidently stays offline."""
    for name in list(os.environ):
        if name.startswith(_OWNED_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    yield


@pytest.fixture(scope="session")
def churn_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small trained churn artifact, built once per session (a few seconds)."""
    from adapters.churn.train import train_model

    out = tmp_path_factory.mktemp("churn-artifact") / "churn"
    train_model(out, rows=5000, seed=11)
    return out
