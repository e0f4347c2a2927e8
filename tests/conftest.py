"""Fixtures shared by every test tier: a clean environment, a trained churn artifact, free ports."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.auth import hash_key
from gateway.settings import Settings
from support.conftest_helpers import ACME_KEY, DEV_KEY, GLOBEX_KEY
from support.otlp_backend import Backend, BackendUnavailable, start_otlp_backend
from support.redis_server import RedisServer, start_redis_server
from support.s3_server import S3Server, start_s3_server

_OWNED_PREFIXES = ("MODELGATE_", "OTEL_", "LANGFUSE_", "OPENAI_", "AWS_")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees the developer's MODELGATE_/OTEL_/LANGFUSE_/OPENAI_ settings; Evidently stays offline."""
    for name in list(os.environ):
        if name.startswith(_OWNED_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    yield


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    yield from start_redis_server(tmp_path_factory)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3-compatible server (moto_server) on loopback, started once."""
    yield from start_s3_server(tmp_path_factory.mktemp("s3-server"))


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The standard AWS variables pointing at the loopback S3 server, for this test only."""
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    return s3_server


@pytest.fixture(scope="session")
def otlp_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """A real OTLP trace backend (Arize Phoenix) on loopback, started once: it takes ~40 s to start."""
    try:
        with start_otlp_backend(tmp_path_factory.mktemp("otlp-backend")) as running:
            yield running
    except BackendUnavailable as exc:
        if os.environ.get("CI"):
            raise  # CI installs it (make test): a missing backend there is a broken build, not a skip
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def churn_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small trained churn artifact, built once per session (a few seconds)."""
    from adapters.churn.train import train_model

    out = tmp_path_factory.mktemp("churn-artifact") / "churn"
    train_model(out, rows=5000, seed=11)
    return out


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
