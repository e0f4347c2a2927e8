"""The log contract end to end: the gateway writes where `MODELGATE_*` says, and every job reads those rows.

The config file names one set of log folders; the environment moves both logs and the results folder
elsewhere: local folders (one of them as a relative path, which resolves against the config file's
folder as the gateway does), or an S3 bucket on a real S3-compatible server on loopback (moto_server),
reached through the standard AWS variables only. After the jobs, `modelgate logs compact` rewrites the
logs in place and the jobs read the same rows again.

The gateway is loaded the way `modelgate serve` loads it (`load_settings`), and each job
runs through its real command with `--config` and the same environment. Each must count exactly the rows
the gateway wrote, and nothing may appear under the config file's folders.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from adapters.churn.generator import generate_customers
from adapters.vllm.sim.app import create_sim_app
from adapters.vllm.sim.config import SimConfig
from gateway.app import create_app
from gateway.cli import main as cli_main
from gateway.logcontract.schemas import LLM_LOG
from gateway.logcontract.window import list_versions
from gateway.settings import load_settings
from support.conftest_helpers import DEV_KEY
from support.servers import uvicorn_thread

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "sim-llama-3-8b"
N_PREDICTIONS = 240
N_CHATS = 7


def _wait_rows(uri: str, n: int, *, llm: bool = False) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        counts = list_versions(uri, 1, spec=LLM_LOG) if llm else list_versions(uri, 1)
        if sum(counts.values()) >= n:
            return
        time.sleep(0.1)
    raise AssertionError(f"{uri} did not reach {n} rows")


@pytest.mark.parametrize("storage", ["local", "s3"])
def test_env_overrides_move_the_writer_and_every_job_together(
    storage: str,
    tmp_path: Path,
    churn_artifact: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    cfg_dir = tmp_path / "etc"
    cfg_dir.mkdir()
    with uvicorn_thread(
        create_sim_app(SimConfig(ttft_ms=0, itl_ms=0, tokens=4, seed=1)), ready_path="/health"
    ) as sim:
        body = {
            "mode": "development",
            "development_key": DEV_KEY,
            "data_dir": "yaml-data",
            "churn": {"artifact_dir": str(churn_artifact), "batch_limit": 1000},
            "prediction_log": {"uri": "yaml-predictions", "flush_rows": 50, "flush_seconds": 0.2},
            "llm": {
                "upstream_url": f"{sim}/v1",
                "models": [MODEL],
                "prices": {MODEL: {"input_per_mtok": 1.0, "output_per_mtok": 2.0}},
                "log_uri": "yaml-llm-log",
            },
        }
        cfg = cfg_dir / "modelgate.yaml"
        cfg.write_text(yaml.safe_dump(body))
        moved = tmp_path / "moved"
        monkeypatch.setenv("MODELGATE_DATA_DIR", str(moved / "data"))
        monkeypatch.setenv("MODELGATE_JOBS__RESULTS_DIR", str(moved / "jobs"))
        if storage == "s3":
            bucket = request.getfixturevalue("s3_env").new_bucket()
            predictions_uri, llm_uri = f"s3://{bucket}/logs/predictions", f"s3://{bucket}/logs/llm"
            monkeypatch.setenv("MODELGATE_PREDICTION_LOG__URI", predictions_uri)
            monkeypatch.setenv("MODELGATE_LLM__LOG_URI", llm_uri)
        else:
            predictions_uri, llm_uri = str(moved / "predictions"), str(cfg_dir / ".." / "moved" / "llm-log")
            monkeypatch.setenv("MODELGATE_PREDICTION_LOG__URI", predictions_uri)
            monkeypatch.setenv("modelgate_llm__log_uri", "../moved/llm-log")  # relative, and lower case

        settings = load_settings(cfg)
        assert (settings.prediction_log_uri, settings.llm_log_uri) == (predictions_uri, llm_uri)
        with uvicorn_thread(create_app(settings)) as gw:
            customers = generate_customers(N_PREDICTIONS, seed=4)
            instances = [
                {"customer_id": f"c{i}", **{k: v for k, v in row.items() if k != "customer_id"}}
                for i, row in enumerate(customers.to_dict(orient="records"))
            ]
            r = httpx.post(
                f"{gw}/v1/churn/predict/batch",
                json={"instances": instances},
                headers={"Authorization": f"Bearer {DEV_KEY}"},
                timeout=30,
            )
            assert r.status_code == 200, r.text
            client = openai.OpenAI(base_url=f"{gw}/v1", api_key=DEV_KEY, max_retries=0)
            for i in range(N_CHATS):
                client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": f"q{i}"}], max_tokens=4
                )
            _wait_rows(settings.prediction_log_uri, N_PREDICTIONS)
            _wait_rows(settings.llm_log_uri, N_CHATS, llm=True)

        # Nothing went to the folders the file names.
        assert not any((cfg_dir / d).exists() for d in ("yaml-data", "yaml-predictions", "yaml-llm-log"))

        from evals.cli import main as eval_main
        from monitoring.drift.cli import main as drift_main
        from monitoring.labels.cli import main as labels_main
        from monitoring.performance.cli import main as performance_main

        capsys.readouterr()
        drift_json = tmp_path / "drift.json"
        code = drift_main(["data", "--config", str(cfg), "--days", "1", "--json", str(drift_json)])
        assert code in (0, 1), capsys.readouterr().err
        assert json.loads(drift_json.read_text())["n_current_total"] == N_PREDICTIONS
        assert (moved / "jobs" / "drift_data--training.json").exists()

        labels_out = tmp_path / "labels.csv"
        code = labels_main(["simulate", "--config", str(cfg), "--out", str(labels_out), "--days", "1"])
        assert code == 0, capsys.readouterr().err
        assert f"{N_PREDICTIONS} logged predictions" in capsys.readouterr().out

        perf_json = tmp_path / "performance.json"
        code = performance_main(["--config", str(cfg), "--days", "7", "--json", str(perf_json)])
        assert code in (0, 1), capsys.readouterr().err
        versions = json.loads(perf_json.read_text())["versions"]
        assert sum(v["n_predictions"] for v in versions.values()) == N_PREDICTIONS

        code = eval_main(
            ["sample", "--config", str(cfg), "--days", "1", "--rate", "1.0", "--base-url", f"{sim}/v1",
             "--api-key", "unused", "--json", str(tmp_path / "sample.json")]
        )  # fmt: skip
        out = capsys.readouterr().out
        assert code != 2, out
        assert f"{N_CHATS} logged requests in the window" in out

        # Compaction in place (every writer file is closed by now), then the same rows again.
        assert cli_main(["logs", "compact", "--config", str(cfg), "--before", "2999-01-01T00:00:00Z"]) == 0
        out = capsys.readouterr().out
        assert re.search(rf"predictions: \d+ files \({N_PREDICTIONS} rows.*-> 1 files", out), out
        assert re.search(r"llm: .* 1 live files now", out), out  # 7 chats fit one flush: nothing to merge
        code = labels_main(["simulate", "--config", str(cfg), "--out", str(labels_out), "--days", "1"])
        assert code == 0 and f"{N_PREDICTIONS} logged predictions" in capsys.readouterr().out
        code = drift_main(["data", "--config", str(cfg), "--days", "1", "--json", str(drift_json)])
        assert code in (0, 1) and json.loads(drift_json.read_text())["n_current_total"] == N_PREDICTIONS
