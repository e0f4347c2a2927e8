"""Judged production samples read the gateway's real LLM log: chats through the gateway (content logging
on) → the Parquet LLM log → `modelgate eval sample` → a judge (a second simulator with scripted verdicts)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pyarrow.dataset as ds
import pytest
import yaml

from adapters.vllm.sim.config import SimConfig
from adapters.vllm.sim.server import SimServer
from evals.cli import main as evals_main
from evals.judge import DEFAULT_RUBRIC, JudgeConfig, build_judge_messages
from gateway.settings import Settings
from support.conftest_helpers import ACME_KEY, GLOBEX_KEY, metric_samples
from support.llm_stack import MODEL, llm_stack

pytestmark = pytest.mark.integration


def test_eval_sample_judges_what_the_gateway_logged(
    make_settings: Callable[..., Settings], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with llm_stack(make_settings, llm={"log_content": True}) as stack:
        client = openai.OpenAI(base_url=f"{stack.gateway_url}/v1", api_key=ACME_KEY, max_retries=0)
        replies = {}
        for i in range(12):
            question = f"question number {i} about churn"
            r = client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": question}], max_tokens=8
            )
            replies[question] = r.choices[0].message.content or ""
        log_uri = stack.settings.llm_log_uri
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if (
                Path(log_uri).exists()
                and ds.dataset(log_uri, format="parquet", partitioning="hive").count_rows() >= 12
            ):
                break
            time.sleep(0.1)

    # The judge: a simulator that answers each judge prompt with a verdict (5 for even questions, 3 for odd).
    judge = JudgeConfig(rubric=DEFAULT_RUBRIC)
    lines = []
    for question, reply in replies.items():
        content = build_judge_messages(judge, [{"role": "user", "content": question}], reply, None)[-1][
            "content"
        ]
        verdict = "Score: 5" if int(question.split()[2]) % 2 == 0 else "Score: 3"
        lines.append(json.dumps({"prompt": content, "answer": verdict}))
    answers = tmp_path / "judge.jsonl"
    answers.write_text("\n".join(lines) + "\n")
    cfg = tmp_path / "modelgate.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(stack.settings.data_dir), "llm": {"log_uri": log_uri}}))
    with SimServer(SimConfig(model=MODEL, ttft_ms=0, itl_ms=0, answers_file=answers)) as judge_sim:
        code = evals_main(
            ["sample", "--config", str(cfg), "--model", MODEL, "--base-url", f"{judge_sim.base_url}/v1",
             "--api-key", "unused", "--days", "1", "--rate", "1.0", "--json", str(tmp_path / "sample.json")]
        )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    result = json.loads((tmp_path / "sample.json").read_text())["models"][MODEL]
    # every logged chat was drawn and judged: six 5s and six 3s on a 1–5 scale → mean (1.0 + 0.5) / 2
    assert result["counts"] == {"items": 12, "pass": 6, "fail": 6, "error": 0, "skipped": 0}
    assert result["skipped_no_content"] == 0
    assert result["score"] == pytest.approx(0.75)


def test_eval_run_goes_through_the_gateway_and_is_billed_to_its_tenant(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    suites = Path(__file__).resolve().parents[2] / "evals" / "suites"
    sim = SimConfig(ttft_ms=0, itl_ms=0, answers_file=suites / "core.answers.jsonl", seed=3)
    with llm_stack(make_settings, sim=sim) as stack:
        cfg = tmp_path / "modelgate.yaml"
        cfg.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "evals-data")}))
        gateway = f"{stack.gateway_url}/v1"
        code = evals_main(
            ["run", str(suites / "core.jsonl"), "--config", str(cfg), "--model", MODEL,
             "--base-url", gateway, "--api-key", GLOBEX_KEY, "--json", str(tmp_path / "run.json")]
        )  # fmt: skip
        assert code == 0
        run = json.loads((tmp_path / "run.json").read_text())
        items = run["counts"]["items"]
        assert items > 100 and run["counts"]["pass"] == items  # the simulator knows every answer
        samples = metric_samples(httpx.get(f"{stack.gateway_url}/metrics").text)
        key = ("modelgate_llm_requests_total", (("model", MODEL), ("status", "200"), ("tenant", "globex")))
        assert samples[key] == items  # every item went through the gateway, billed to the eval tenant
