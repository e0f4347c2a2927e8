"""`llm.upstreams` at start-up: the one-replica fleet of `llm.upstream_url`, and one line per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.settings import ConfigError, load_settings

PRICE = {"input_per_mtok": 1.0, "output_per_mtok": 2.0}


def _load(tmp_path: Path, llm: dict[str, object]) -> object:
    cfg = tmp_path / "modelgate.yaml"
    cfg.write_text(yaml.safe_dump({"llm": llm}))
    return load_settings(cfg)


def test_upstream_url_is_a_fleet_of_one_and_upstreams_add_their_models(tmp_path: Path) -> None:
    s = _load(tmp_path, {"upstream_url": "http://h:8001/v1/", "models": ["m"], "prices": {"m": PRICE}})
    (spec,) = s.fleet()  # type: ignore[attr-defined]
    assert (spec.name, spec.url, spec.models, spec.weight) == ("default", "http://h:8001/v1", {"m"}, 1.0)
    s = _load(
        tmp_path,
        {
            "upstreams": [
                {"name": "llama-a", "url": "http://a:8000/v1", "models": ["llama"]},
                {"name": "qwen-a", "url": "http://q:8000/v1", "models": ["qwen"], "weight": 2},
            ],
            "fallbacks": {"llama": ["qwen"]},
            "prices": {"llama": PRICE, "qwen": PRICE},
        },
    )
    assert s.llm.models == ["llama", "qwen"]  # type: ignore[attr-defined]
    assert [(r.name, r.weight) for r in s.fleet()] == [("llama-a", 1.0), ("qwen-a", 2.0)]  # type: ignore[attr-defined]


def test_every_fleet_mistake_is_one_line_naming_its_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _load(
            tmp_path,
            {
                "upstream_url": "http://x/v1",
                "upstreams": [
                    {"name": "a", "url": "ftp://a/v1", "models": ["llama"]},
                    {"name": "a", "url": "ftp://a/v1/", "models": []},
                ],
                "fallbacks": {"llama": ["llama", "mistral"], "gpt": ["llama"]},
                "billing": False,
            },
        )
    lines = str(info.value).splitlines()
    cfg = str(tmp_path / "modelgate.yaml")
    assert all(line.startswith(cfg + ": llm.") for line in lines)
    text = "\n".join(lines)
    for expected in (
        "llm.upstreams: set either llm.upstream_url",
        "llm.upstreams[0] (a).url: must start with http://",
        "llm.upstreams[1] (a).name: duplicate replica name 'a'",
        "llm.upstreams[1] (a).url: same server as 'a'",
        "llm.upstreams[1] (a).models: list at least one model",
        "llm.fallbacks.llama: a model cannot be its own fallback",
        "llm.fallbacks.llama: fallback 'mistral' is served by no replica",
        "llm.fallbacks.gpt: no replica in llm.upstreams serves 'gpt'",
    ):
        assert expected in text
    assert len(lines) == 9  # the second ftp:// url is its own line too


@pytest.mark.parametrize(
    ("llm", "expected"),
    [
        ({"upstreams": [{"name": "A b", "url": "http://a/v1", "models": ["m"]}]}, "llm.upstreams.0.name"),
        ({"upstreams": [{"name": "a", "url": "http://a/v1"}]}, "llm.upstreams.0.models: Field required"),
        ({"upstreams": [{"name": "a", "url": "http://a/v1", "models": ["m"], "weight": 0}]}, "weight"),
        ({"upstreams": [{"name": "a", "url": "http://a/v1", "models": ["m"]}]}, "no price for model 'm'"),
        ({"routing": {"affinity": "cookie"}}, "llm.routing.affinity"),
        ({"routing": {"eject_base_s": 10, "eject_max_s": 5}}, "llm.routing.eject_max_s"),
    ],
)
def test_single_mistakes(tmp_path: Path, llm: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected.replace("[", r"\[").replace("(", r"\(")):
        _load(tmp_path, llm)
