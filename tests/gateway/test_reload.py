"""What SIGHUP may change without a restart, and that a refused reload keeps the running config."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from gateway.reload import reload_config, restart_needed
from gateway.settings import Settings


def test_only_the_reloadable_fields_change_without_a_restart(make_settings: Callable[..., Settings]) -> None:
    old = make_settings()
    prices = {"m": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}}
    assert restart_needed(old, make_settings(llm={"models": ["m"], "prices": prices})) == []
    assert restart_needed(old, make_settings(budgets={"soft_fraction": 0.5}, tenants=[])) == []
    assert restart_needed(old, make_settings(admin={"key_sha256": ["a" * 64]})) == []
    assert restart_needed(old, make_settings(server={"port": 9001})) == ["server.port"]
    assert restart_needed(old, make_settings(llm={"total_timeout_s": 10.0}, mode="development")) == [
        "llm.total_timeout_s"
    ]


def test_a_broken_or_restart_only_reload_is_refused_with_one_line(
    tmp_path: Path, make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    from types import SimpleNamespace

    settings = make_settings()
    services = SimpleNamespace(settings=settings, store=None, llm=None)
    cfg = tmp_path / "modelgate.yaml"
    cfg.write_text("server: {port: 70000}\n")
    caplog.set_level(logging.ERROR, logger="modelgate.reload")
    assert asyncio.run(reload_config(services, cfg)) is False  # type: ignore[arg-type]
    assert services.settings is settings
    (record,) = caplog.records
    assert "config reload refused" in record.message and "server.port" in record.message
    caplog.clear()
    raw = settings.model_dump(mode="json", exclude_none=True)
    raw["server"]["port"] = 9001
    cfg.write_text(yaml.safe_dump(raw))
    assert asyncio.run(reload_config(services, cfg)) is False  # type: ignore[arg-type]
    assert "server.port changed, which needs a restart" in caplog.records[0].message
