"""The `evals:` section of modelgate.yaml and its defaults."""

import pytest
import yaml
from pydantic import BaseModel

from evals.config import ConfigFileError, EvalsSection, from_raw, load_evals_config
from evals.suite import default_suites_dir


def test_defaults(tmp_path):
    cfg = from_raw({}, tmp_path)
    assert cfg.history_path == tmp_path / "data" / "evals" / "history.sqlite"
    assert cfg.reports_dir == tmp_path / "data" / "reports" / "evals"
    assert cfg.suites_dir == default_suites_dir()
    assert (cfg.regression.alpha, cfg.regression.min_effect) == (0.01, 0.03)
    assert (cfg.judge.scale_min, cfg.judge.scale_max, cfg.judge.pass_threshold) == (1, 5, 4)
    assert cfg.section.baseline == "trailing:3"
    assert cfg.price_for("m") is None


def test_paths_resolve_against_the_config_folder(tmp_path):
    raw = {"data_dir": "/srv/mg", "evals": {"history_path": "h/hist.sqlite", "suites_dir": "my-suites"}}
    cfg = from_raw(raw, tmp_path)
    assert cfg.history_path == tmp_path / "h" / "hist.sqlite"
    assert cfg.suites_dir == tmp_path / "my-suites"
    assert cfg.reports_dir.as_posix() == "/srv/mg/reports/evals"


def test_prices_from_evals_else_from_the_gateway_table(tmp_path):
    llm = {"llm": {"prices": {"m": {"input_per_mtok": 1.0, "output_per_mtok": 3.0}}}}
    price = from_raw(llm, tmp_path).price_for("m")
    assert price is not None and price.cost(1_000_000, 1_000_000) == 4.0
    own = {**llm, "evals": {"prices": {"m": {"input_per_mtok": 0.5, "output_per_mtok": 0.5}}}}
    price = from_raw(own, tmp_path).price_for("m")
    assert price is not None and price.cost(2_000_000, 0) == 1.0


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"concurency": 2}, "evals.concurency"),
        ({"regression": {"alpha": 0}}, "evals.regression.alpha"),
        ({"judge": {"scale_min": 5, "scale_max": 3}}, "scale_max"),
        ({"judge": {"pass_threshold": 9}}, "pass_threshold"),
        ({"sample": {"rate": 0}}, "evals.sample.rate"),
        ({"prices": {"m": {"input_per_mtok": -1, "output_per_mtok": 1}}}, "evals.prices.m.input_per_mtok"),
    ],
)
def test_bad_sections_are_one_line_errors(tmp_path, section, message):
    with pytest.raises(ConfigFileError, match=message) as info:
        from_raw({"evals": section}, tmp_path)
    assert "\n" not in str(info.value)


def test_every_field_has_a_description():
    def walk(model: type[BaseModel], prefix: str):
        for name, info in model.model_fields.items():
            assert info.description, f"{prefix}{name} has no description"
            annotation = info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, f"{prefix}{name}.")

    walk(EvalsSection, "evals.")


def test_load_without_a_file_uses_defaults_but_a_named_file_must_exist(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_evals_config(None).history_path == tmp_path / "data" / "evals" / "history.sqlite"
    with pytest.raises(ConfigFileError, match="not found"):
        load_evals_config(str(tmp_path / "missing.yaml"))
    monkeypatch.setenv("MODELGATE_CONFIG", str(tmp_path / "also-missing.yaml"))
    with pytest.raises(ConfigFileError, match="not found"):
        load_evals_config(None)
    (tmp_path / "modelgate.yaml").write_text(yaml.safe_dump({"evals": {"model": "m1"}}))
    monkeypatch.delenv("MODELGATE_CONFIG")
    assert load_evals_config(None).section.model == "m1"
