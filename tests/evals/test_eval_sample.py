"""Judged production samples: a real LLM log (written by the gateway's Parquet writer), the seeded draw,
skipped rows without content, and the unpaired regression verdict through the simulator as judge."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from adapters.vllm.sim.config import SimConfig
from adapters.vllm.sim.server import SimServer
from evals.cli import main
from evals.judge import DEFAULT_RUBRIC, JudgeConfig, build_judge_messages
from evals.llm_log import LogSampleError, draw_sample, drawn, parse_prompt
from gateway.logcontract.job_results import read_result
from gateway.logcontract.rows import llm_partition
from gateway.logcontract.schemas import LLM_LOG_SCHEMA
from gateway.logwriter import ParquetLogWriter
from support.evals_helpers import MODEL

NOW = datetime.now(UTC)


def log_row(i, *, model=MODEL, content=True, status=200, tenant="acme", age=timedelta(minutes=5)):
    prompt = [{"role": "user", "content": f"Question {i}?"}]
    return {
        "ts": NOW - age - timedelta(seconds=i),
        "request_id": f"req-{i:04d}",
        "trace_id": None,
        "tenant": tenant,
        "operation": "chat",
        "stream": False,
        "status": status,
        "input_tokens": 10,
        "output_tokens": 5,
        "usage_estimated": False,
        "cost_usd": 0.0001,
        "duration_s": 0.2,
        "ttft_s": 0.05,
        "finish_reason": "stop",
        "input_messages": json.dumps(prompt) if content else None,
        "output_text": f"Answer {i}." if content else None,
        "model": model,
    }


def write_log(uri, rows):
    writer = ParquetLogWriter(str(uri), LLM_LOG_SCHEMA, partition_by=llm_partition, flush_seconds=60)
    writer.start()
    for row in rows:
        assert writer.submit(row)
    writer.close()


@pytest.fixture
def log_dir(config_file):
    uri = config_file.parent / "data" / "llm-log"
    rows = [log_row(i) for i in range(60)]
    rows += [log_row(100 + i, content=False) for i in range(10)]  # llm.log_content was off for these
    rows += [log_row(200 + i, status=429) for i in range(5)]  # refused by a budget: never judged
    rows += [log_row(300 + i, tenant="evals") for i in range(5)]  # the eval jobs' own traffic
    rows += [log_row(400 + i, age=timedelta(days=3)) for i in range(5)]  # outside the window
    rows += [log_row(500 + i, model="other-model") for i in range(4)]
    write_log(uri, rows)
    return uri


def test_draw_is_seeded_windowed_and_counts_rows_without_content(log_dir):
    every = draw_sample(str(log_dir), days=1, rate=1.0, seed=0, max_items=1000)
    assert every.candidates == 60 + 10 + 5 + 4  # status 200, inside the window
    assert len(every.rows[MODEL]) == 60 + 5
    assert every.skipped == {MODEL: 10}
    assert len(every.rows["other-model"]) == 4
    no_evals = draw_sample(str(log_dir), days=1, rate=1.0, seed=0, max_items=1000, exclude_tenants=("evals",))
    assert len(no_evals.rows[MODEL]) == 60
    wide = draw_sample(str(log_dir), days=4, rate=1.0, seed=0, max_items=1000, model=MODEL)
    assert set(wide.rows) == {MODEL} and len(wide.rows[MODEL]) == 70

    half = draw_sample(str(log_dir), days=1, rate=0.5, seed=3, max_items=1000)
    again = draw_sample(str(log_dir), days=1, rate=0.5, seed=3, max_items=1000)
    assert half.rows == again.rows
    ids = {r.request_id for r in half.rows[MODEL]}
    assert 15 < len(ids) < 50
    assert all(drawn(i, 3, 0.5) for i in ids)
    more = draw_sample(str(log_dir), days=1, rate=0.8, seed=3, max_items=1000)
    assert ids <= {r.request_id for r in more.rows[MODEL]}  # a bigger rate draws a superset
    other_seed = draw_sample(str(log_dir), days=1, rate=0.5, seed=4, max_items=1000)
    assert {r.request_id for r in other_seed.rows[MODEL]} != ids

    capped = draw_sample(str(log_dir), days=1, rate=1.0, seed=0, max_items=7)
    assert len(capped.rows[MODEL]) + capped.skipped[MODEL] <= 7
    assert capped.capped[MODEL] == 75 - 7


def test_missing_log_is_a_clear_error(tmp_path):
    with pytest.raises(LogSampleError, match="no LLM request log"):
        draw_sample(str(tmp_path / "nope"), days=1, rate=0.1, seed=0, max_items=10)


def test_parse_prompt():
    assert parse_prompt('[{"role": "user", "content": "hi"}]') == [{"role": "user", "content": "hi"}]
    assert parse_prompt('"Once upon"') == "Once upon"
    assert parse_prompt("not json") == "not json"
    assert parse_prompt('{"messages": [{"role": "user", "content": "x"}]}') == [
        {"role": "user", "content": "x"}
    ]


JUDGED = list(range(60)) + list(range(300, 305))  # rows with content; the evals tenant is not excluded here


def judge_answers(tmp_path, verdict_for, name):
    judge = JudgeConfig(rubric=DEFAULT_RUBRIC)
    lines = []
    for i in JUDGED:
        prompt = [{"role": "user", "content": f"Question {i}?"}]
        content = build_judge_messages(judge, prompt, f"Answer {i}.", None)[-1]["content"]
        lines.append(json.dumps({"prompt": content, "answer": verdict_for(i)}))
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.integration
def test_sample_tracks_judged_scores_against_the_trailing_samples(tmp_path, config_file, log_dir, capsys):
    good = judge_answers(tmp_path, lambda i: "Score: 5" if i % 3 else "Score: 4", "good.jsonl")
    bad = judge_answers(tmp_path, lambda i: "Score: 2" if i % 2 else '{"score": 3}', "bad.jsonl")
    # Scores on 1-5 normalised to 0-1: 5 → 1.0, 4 → 0.75, 3 → 0.5, 2 → 0.25.
    good_mean = sum(1.0 if i % 3 else 0.75 for i in JUDGED) / len(JUDGED)
    bad_mean = sum(0.25 if i % 2 else 0.5 for i in JUDGED) / len(JUDGED)
    args = ["sample", "--config", str(config_file), "--days", "1", "--rate", "1.0", "--seed", "1"]
    args += ["--model", MODEL, "--api-key", "k", "--baseline", "trailing:2"]
    report = tmp_path / "sample.json"
    with SimServer(SimConfig(model=MODEL, ttft_ms=0, itl_ms=0, answers_file=good)) as sim:
        url = ["--base-url", f"{sim.base_url}/v1"]
        assert main([*args, *url]) == 0
        out = capsys.readouterr().out
        assert f"judged 65, mean score {good_mean:.3f}" in out and "no_baseline" in out
        assert "10 drawn rows skipped: no logged content" in out
        assert main([*args, *url]) == 0
        assert "→ no_baseline" in capsys.readouterr().out  # one sample run of the two asked for
        assert main([*args, *url]) == 0
        assert "→ ok" in capsys.readouterr().out
    with SimServer(SimConfig(model=MODEL, ttft_ms=0, itl_ms=0, answers_file=bad)) as sim:
        assert main([*args, "--base-url", f"{sim.base_url}/v1", "--json", str(report)]) == 1
    summary = json.loads(report.read_text())["models"][MODEL]
    assert summary["verdict"] == "regressed"
    assert summary["skipped_no_content"] == 10
    assert summary["counts"]["skipped"] == 10
    assert summary["regression"]["score_drop"] == pytest.approx(good_mean - bad_mean)
    assert summary["regression"]["mann_whitney_p"] < 0.01
    result = read_result(config_file.parent / "data" / "jobs" / f"eval_sample--production_{MODEL}.json")
    assert result is not None and result["exit_code"] == 1
    values = {m["name"]: m["value"] for m in result["metrics"] if "outcome" not in m["labels"]}
    assert values == {
        "modelgate_eval_regression": 1.0,
        "modelgate_eval_score": pytest.approx(bad_mean),
        "modelgate_log_skipped_files": 0.0,  # every log file was readable
    }
    assert result["skipped_files"] == []


def test_sample_with_no_log_exits_2(config_file, capsys):
    argv = ["sample", "--config", str(config_file), "--model", MODEL]
    argv += ["--base-url", "http://x/v1", "--api-key", "k"]
    assert main(argv) == 2
    assert "no LLM request log" in capsys.readouterr().err
