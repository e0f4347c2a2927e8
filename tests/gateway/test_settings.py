from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from gateway.commands.init import render_starter_config
from gateway.settings import ConfigError, Settings, load_settings


def _all_fields(model: type[BaseModel], prefix: str = "") -> list[tuple[str, object]]:
    out = []
    for name, field in model.model_fields.items():
        out.append((prefix + name, field.description))
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.extend(_all_fields(ann, prefix + name + "."))
    return out


def test_every_settings_field_is_described() -> None:
    missing = [name for name, desc in _all_fields(Settings) if not desc]
    assert missing == []


def test_starter_config_loads_and_resolves_paths_against_its_folder(tmp_path: Path) -> None:
    cfg = tmp_path / "conf" / "modelgate.yaml"
    cfg.parent.mkdir()
    cfg.write_text(
        render_starter_config(
            data_dir="data", upstream="http://127.0.0.1:8001/v1", dev_key="mg-dev-" + "x" * 20
        )
    )
    s = load_settings(cfg)
    assert s.data_dir == cfg.parent / "data"
    assert s.artifact_dir == cfg.parent / "data" / "models" / "churn"
    assert s.prediction_log_uri == str(cfg.parent / "data" / "predictions")
    assert s.llm.models == ["sim-llama-3-8b"] and "sim-llama-3-8b" in s.llm.prices


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("server: {port: 70000}\n", "server.port"),
        ("server: {prot: 1}\n", "server.prot: unknown field"),
        ("mode: production\ndevelopment_key: mg-dev-aaaaaaaaaaaaaaaa\n", "development key is configured"),
        ("llm: {upstream_url: 'http://x/v1', models: [m1]}\n", "llm.prices: no price for model 'm1'"),
        ("budgets: {backend: redis}\n", "budgets.redis_url"),
        ("tenants: [{name: 'Bad Name', key_sha256: '" + "a" * 64 + "'}]\n", "tenants.0.name"),
        ("server: [1, 2\n", "not valid YAML"),
    ],
)
def test_bad_config_is_one_line_naming_the_field(tmp_path: Path, yaml_text: str, expected: str) -> None:
    cfg = tmp_path / "modelgate.yaml"
    cfg.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message and str(cfg) in message


def test_env_overrides_win_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "modelgate.yaml"
    cfg.write_text("server: {port: 8100}\n")
    monkeypatch.setenv("MODELGATE_SERVER__PORT", "9123")
    assert load_settings(cfg).server.port == 9123


def test_config_precedence_flag_then_env_then_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.yaml").write_text("server: {port: 8101}\n")
    (tmp_path / "b.yaml").write_text("server: {port: 8102}\n")
    (tmp_path / "modelgate.yaml").write_text("server: {port: 8103}\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings(None).server.port == 8103
    monkeypatch.setenv("MODELGATE_CONFIG", str(tmp_path / "b.yaml"))
    assert load_settings(None).server.port == 8102
    assert load_settings(tmp_path / "a.yaml").server.port == 8101


def test_missing_config_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="modelgate init"):
        load_settings(tmp_path / "nope.yaml")


def test_configuration_reference_lists_every_field() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    missing = [name for name, _ in _all_fields(Settings) if f"`{name}`" not in doc]
    assert missing == []


def test_production_refuses_metrics_open_on_the_api_port(tmp_path: Path) -> None:
    cfg = tmp_path / "modelgate.yaml"
    cfg.write_text("mode: production\n")
    with pytest.raises(ConfigError, match=r"server\.metrics_port"):
        load_settings(cfg)
    cfg.write_text("mode: production\nserver: {metrics_port: 9464}\n")
    assert load_settings(cfg).server.metrics_port == 9464
    cfg.write_text(f"mode: production\nserver: {{metrics_token_sha256: {'a' * 64}}}\n")
    assert load_settings(cfg).server.metrics_token_sha256 == "a" * 64
    cfg.write_text("server: {port: 8000, metrics_port: 8000}\n")
    with pytest.raises(ConfigError, match="must differ"):
        load_settings(cfg)


def test_the_old_first_token_timeout_name_still_loads(tmp_path: Path) -> None:
    cfg = tmp_path / "modelgate.yaml"
    cfg.write_text("llm: {first_token_timeout_s: 7.5}\n")
    settings = load_settings(cfg)
    assert settings.llm.first_byte_timeout_s == 7.5
