"""The jobs' resolver agrees with the gateway's Settings for every kind of `MODELGATE_*` override."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.logcontract.locations import LocationsError, resolve_locations
from gateway.settings import settings_from_mapping
from monitoring.config import ConfigFileError, from_mapping

RAW = {
    "data_dir": "data",
    "prediction_log": {"uri": "file-predictions", "flush_rows": 10},
    "llm": {"log_uri": "s3://file-bucket/llm"},
    "jobs": {"results_dir": "file-jobs"},
    "monitoring": {"drift": {"max_rows": 5}},
}

CASES = {
    "none": {},
    "data_dir only": {"MODELGATE_DATA_DIR": "/srv/mg"},
    "nested uri": {"MODELGATE_PREDICTION_LOG__URI": "s3://bucket/preds"},
    "relative": {"MODELGATE_LLM__LOG_URI": "elsewhere/llm"},
    "lower case": {"modelgate_jobs__results_dir": "/var/jobs"},
    "whole section as JSON": {"MODELGATE_LLM": '{"log_uri": "gs://b/llm"}'},
    "file uri": {"MODELGATE_PREDICTION_LOG__URI": "file:///mnt/preds"},
    "artifact": {"MODELGATE_CHURN__ARTIFACT_DIR": "models/other"},
}


@pytest.mark.parametrize("env", list(CASES.values()), ids=list(CASES))
def test_resolver_matches_the_gateway_settings(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = settings_from_mapping(RAW, tmp_path)
    loc = resolve_locations(RAW, tmp_path)
    assert loc.prediction_log_uri == settings.prediction_log_uri
    assert loc.llm_log_uri == settings.llm_log_uri
    assert loc.results_dir == settings.results_dir
    assert loc.artifact_dir == settings.artifact_dir
    assert loc.data_dir == settings.data_dir
    cfg = from_mapping(RAW, tmp_path)
    assert (cfg.prediction_log_uri, cfg.llm_log_uri) == (settings.prediction_log_uri, settings.llm_log_uri)


def test_section_overrides_reach_the_jobs_like_the_gateway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELGATE_MONITORING__DRIFT__SEED", "3")
    settings = settings_from_mapping(RAW, tmp_path)
    cfg = from_mapping(RAW, tmp_path)
    assert cfg.section("drift") == settings.monitoring["drift"] == {"max_rows": 5, "seed": 3}


def test_a_section_of_the_wrong_shape_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(LocationsError, match="prediction_log"):
        resolve_locations({"prediction_log": "oops"}, tmp_path)
    with pytest.raises(ConfigFileError, match="monitoring"):
        from_mapping({"monitoring": ["a"]}, tmp_path)
