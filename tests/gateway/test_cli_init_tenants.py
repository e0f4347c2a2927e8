"""`modelgate init`, `modelgate tenants …` against the tenant store, `modelgate admin create-key` on YAML."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
import yaml

from gateway.cli import main
from gateway.commands.init import render_starter_config
from gateway.settings import load_settings
from gateway.tenancy.records import StoreSnapshot
from gateway.tenancy.sqlite_store import SqliteTenantStore


def _snapshot(cfg: Path) -> StoreSnapshot:
    async def read() -> StoreSnapshot:
        store = SqliteTenantStore(load_settings(cfg).tenant_store_path)
        try:
            return await store.snapshot()
        finally:
            await store.close()

    return asyncio.run(read())


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
    before = cfg.read_text()
    capsys.readouterr()
    args = ["--daily-usd", "5", "--rpm", "30", "--lanes", "llm", "--models", "m1,m2", "--config", str(cfg)]
    assert main(["tenants", "add", "acme", *args]) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert key.startswith("mg-") and len(key) > 40
    assert cfg.read_text() == before  # the store holds tenants now, not the YAML
    snap = _snapshot(cfg)
    (record,) = snap.keys.values()
    assert record.key_sha256 == hashlib.sha256(key.encode()).hexdigest()
    assert (record.lanes, record.models) == (frozenset({"llm"}), frozenset({"m1", "m2"}))
    assert (snap.tenants["acme"].daily_usd, snap.tenants["acme"].rpm) == (5.0, 30)
    assert key not in (tmp_path / "data" / "tenants.sqlite").read_bytes().decode("latin-1")

    # rotation, limits, listing, revocation
    assert main(["tenants", "add-key", "acme", "--key-name", "ci", "--config", str(cfg)]) == 0
    second = capsys.readouterr().out.strip().splitlines()[-1]
    assert second.startswith("mg-") and second != key
    assert main(["tenants", "set", "acme", "--rpm", "none", "--tpm", "1000", "--config", str(cfg)]) == 0
    assert "rpm=None tpm=1000" in capsys.readouterr().out
    assert main(["tenants", "revoke-key", record.id, "--config", str(cfg)]) == 0
    capsys.readouterr()
    assert main(["tenants", "list", "--config", str(cfg)]) == 0
    listing = capsys.readouterr().out
    assert f"{record.id}\trevoked" in listing and "\tactive\tci\t" in listing
    assert key not in listing and record.key_sha256 not in listing


def test_tenants_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "modelgate.yaml"
    main(["init", "--config", str(cfg)])
    assert main(["tenants", "add", "acme", "--config", str(cfg)]) == 0
    capsys.readouterr()
    assert main(["tenants", "add", "acme", "--config", str(cfg)]) == 2
    assert capsys.readouterr().err.strip() == "modelgate tenants: tenant 'acme' already exists"
    assert main(["tenants", "revoke-key", "key_nope", "--config", str(cfg)]) == 2
    assert main(["tenants", "set", "nobody", "--rpm", "3", "--config", str(cfg)]) == 2
    assert "no tenant named 'nobody'" in capsys.readouterr().err
    for bad, named in (
        (["tenants", "add", "Bad Name"], "argument name: invalid tenant name 'Bad Name'"),
        (["tenants", "add", "x", "--daily-usd", "-1"], "argument --daily-usd: "),
        (["tenants", "add", "x", "--lanes", "gpu"], "argument --lanes: "),
        (
            ["tenants", "add", "x", "--expires-at", "2001-01-01"],
            "argument --expires-at: must be in the future",
        ),
        (["tenants", "frobnicate"], "argument action: invalid choice: 'frobnicate'"),
    ):
        assert main([*bad, "--config", str(cfg)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "usage:" not in err, err
        assert err.startswith("modelgate tenants") and named in err, err


@pytest.mark.parametrize("layout", ["init", "safe_dump"])
def test_admin_create_key_edits_the_yaml_keeping_comments_and_layout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], layout: str
) -> None:
    cfg = tmp_path / "modelgate.yaml"
    if layout == "init":
        cfg.write_text(
            render_starter_config(data_dir="data", upstream=None, dev_key="mg-dev-0123456789abcdef")
        )
    else:  # what a YAML tool writes: block sequences at column 0, no comments, keys sorted
        data = {
            "data_dir": "data",
            "tenants": [{"name": "acme", "key_sha256": "a" * 64, "daily_usd": 1.0}],
            "llm": {"models": ["m"], "prices": {"m": {"input_per_mtok": 1, "output_per_mtok": 2}}},
        }
        cfg.write_text(yaml.safe_dump(data))
    before = cfg.read_text()
    cfg.chmod(0o600)
    assert main(["admin", "create-key", "--config", str(cfg)]) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]
    after = cfg.read_text()
    assert key.startswith("mg-") and key not in after
    assert load_settings(cfg).admin.key_sha256 == [hashlib.sha256(key.encode()).hexdigest()]
    # Every line of the old file is still there, unchanged (comments, quoting, indentation)...
    old_lines = [line for line in before.splitlines() if line.strip() and "key_sha256: []" not in line]
    assert [line for line in old_lines if line not in after.splitlines()] == []
    assert (cfg.stat().st_mode & 0o777) == 0o600
    # ...and a second key adds to the list.
    assert main(["admin", "create-key", "--config", str(cfg)]) == 0
    assert len(load_settings(cfg).admin.key_sha256) == 2


def test_admin_create_key_on_a_broken_config_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "modelgate.yaml"
    cfg.write_text("server:\n  port: 99999\n")
    assert main(["admin", "create-key", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "server.port" in err and len(err.strip().splitlines()) == 1
    assert cfg.read_text() == "server:\n  port: 99999\n"
    cfg.write_text("server: [unclosed\n")
    assert main(["admin", "create-key", "--config", str(cfg)]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err


def test_the_starter_config_leaves_tracing_to_the_otel_environment(tmp_path: Path) -> None:
    from gateway.tracing.config import resolve_tracing

    cfg = tmp_path / "modelgate.yaml"
    assert main(["init", "--config", str(cfg)]) == 0
    tracing = load_settings(cfg).tracing
    assert tracing.enabled == "auto"
    off = resolve_tracing(tracing, service_version="1", environ={})
    on = resolve_tracing(
        tracing, service_version="1", environ={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
    )
    assert not off.enabled
    assert on.enabled and on.traces_endpoint == "http://collector:4318/v1/traces"


def test_init_production_writes_a_config_that_starts_in_production(tmp_path: Path) -> None:
    cfg = tmp_path / "modelgate.yaml"
    assert main(["init", "--production", "--config", str(cfg)]) == 0
    text = cfg.read_text()
    assert "development_key" not in text
    settings = load_settings(cfg)
    assert settings.mode == "production"
    assert settings.server.metrics_port is not None and settings.server.metrics_port != settings.server.port
    assert settings.server.docs_enabled is False
