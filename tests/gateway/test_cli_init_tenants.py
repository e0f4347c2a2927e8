from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from gateway.cli import main
from gateway.settings import load_settings


def test_init_writes_a_commented_config_and_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "modelgate.yaml"
    assert main(["init", "--config", str(cfg), "--llm-upstream", "http://127.0.0.1:8001/v1"]) == 0
    text = cfg.read_text()
    assert text.count("#") > 10  # commented
    assert load_settings(cfg).llm.upstream_url == "http://127.0.0.1:8001/v1"
    assert main(["init", "--config", str(cfg)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_tenants_add_prints_the_key_once_and_stores_only_its_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "modelgate.yaml"
    main(["init", "--config", str(cfg)])
    capsys.readouterr()
    assert (
        main(["tenants", "add", "acme", "--daily-usd", "5", "--monthly-usd", "50", "--config", str(cfg)]) == 0
    )
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert key.startswith("mg-") and len(key) > 40
    text = cfg.read_text()
    assert key not in text
    assert hashlib.sha256(key.encode()).hexdigest() in text
    assert "# Keep this section last" in text  # comments survive
    settings = load_settings(cfg)
    (acme,) = settings.tenants
    assert (acme.name, acme.daily_usd, acme.monthly_usd) == ("acme", 5.0, 50.0)
    # a second tenant appends; a duplicate or a bad name is refused without touching the file
    assert main(["tenants", "add", "globex", "--config", str(cfg)]) == 0
    before = cfg.read_text()
    assert main(["tenants", "add", "acme", "--config", str(cfg)]) == 2
    assert main(["tenants", "add", "Bad Name", "--config", str(cfg)]) == 2
    assert cfg.read_text() == before
    assert [t.name for t in load_settings(cfg).tenants] == ["acme", "globex"]
    assert yaml.safe_load(before)["tenants"][1]["daily_usd"] is None


def test_tenants_add_refuses_negative_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "modelgate.yaml"
    main(["init", "--config", str(cfg)])
    with pytest.raises(SystemExit) as info:
        main(["tenants", "add", "acme", "--daily-usd", "-1", "--config", str(cfg)])
    assert info.value.code == 2


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err


def test_init_production_writes_a_config_that_starts_in_production(tmp_path: Path) -> None:
    cfg = tmp_path / "modelgate.yaml"
    assert main(["init", "--production", "--config", str(cfg)]) == 0
    text = cfg.read_text()
    assert "development_key" not in text
    settings = load_settings(cfg)
    assert settings.mode == "production"
    assert settings.server.metrics_port is not None and settings.server.metrics_port != settings.server.port
    assert settings.server.docs_enabled is False
