"""`modelgate eval run|history` end to end against the real simulator, and its bad-input exits."""

import json
import sqlite3

import pytest
import yaml

from adapters.vllm.sim.config import SimConfig
from adapters.vllm.sim.server import SimServer
from evals.cli import main
from evals.judge import JudgeConfig, build_judge_messages
from gateway.logcontract.job_results import read_result
from support.evals_helpers import MODEL, set_faults


def run(config_file, base_url, *extra):
    argv = ["run", "core", "--config", str(config_file), "--model", MODEL, "--base-url", f"{base_url}/v1"]
    return main([*argv, "--api-key", "k", *extra])


def metrics_of(config_file, job="eval_run", variant=f"core_{MODEL}"):
    result = read_result(config_file.parent / "data" / "jobs" / f"{job}--{variant}.json")
    assert result is not None
    return result, {(m["name"], m["labels"].get("outcome")): m["value"] for m in result["metrics"]}


@pytest.mark.integration
def test_core_suite_scores_100_percent_at_wrong_rate_zero(sim_process, config_file, tmp_path, capsys):
    base_url = sim_process
    out_json, out_html = tmp_path / "out" / "r.json", tmp_path / "out" / "r.html"
    assert run(config_file, base_url, "--json", str(out_json), "--html", str(out_html)) == 0
    summary = json.loads(out_json.read_text())
    assert summary["counts"] == {"items": 156, "pass": 156, "fail": 0, "error": 0, "skipped": 0}
    assert summary["pass_rate"] == 1.0
    assert summary["verdict"] == "no_baseline"
    assert summary["tokens"]["input"] > 0 and summary["cost_usd"] > 0  # price from llm.prices
    assert out_html.read_text().startswith("<!doctype html>")
    reports = config_file.parent / "data" / "reports" / "evals"
    assert (reports / f"run--core--{MODEL}.html").exists() and (reports / f"run--core--{MODEL}.json").exists()
    result, metrics = metrics_of(config_file)
    assert result["status"] == "ok" and result["exit_code"] == 0
    assert metrics[("modelgate_eval_score", None)] == 1.0
    assert metrics[("modelgate_eval_regression", None)] == 0.0
    assert metrics[("modelgate_eval_items_total", "pass")] == 156
    assert metrics[("modelgate_eval_items_total", "error")] == 0
    out, err = capsys.readouterr()
    assert "pass 156/156 (100.0%)" in out
    assert "156/156" in err  # the progress bar

    # A second run pairs with the first; with --baseline trailing:1 that is a full baseline.
    assert run(config_file, base_url, "--baseline", "trailing:1") == 0
    assert "baseline 100.0% over 1 runs → ok" in capsys.readouterr().out
    assert main(["history", "--config", str(config_file)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "core" in lines[0] and lines[0].endswith("ok")


@pytest.mark.integration
def test_base_url_and_key_from_the_environment(sim, config_file, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_BASE_URL", f"{sim.base_url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    suite = config_file.parent / "tiny.jsonl"
    suite.write_text(
        json.dumps({"id": "a", "input": "What is the chemical symbol for gold? Reply with the symbol only.",
                    "expected": "Au", "scorer": "exact"}) + "\n"
    )  # fmt: skip
    assert main(["run", str(suite), "--config", str(config_file), "--model", MODEL]) == 0
    assert "pass 1/1" in capsys.readouterr().out


@pytest.mark.integration
def test_cache_reuses_answers_to_unchanged_items_only(sim, config_file, capsys):
    suite = config_file.parent / "cached.jsonl"
    items = [
        {
            "id": "gold",
            "input": "What is the chemical symbol for gold? Reply with the symbol only.",
            "expected": "Au",
        },
        {
            "id": "iron",
            "input": "What is the chemical symbol for iron? Reply with the symbol only.",
            "expected": "Fe",
        },
    ]
    header = {"suite": "cached", "scorer": {"type": "exact", "ignore_case": False}}
    suite.write_text("\n".join(json.dumps(x) for x in [header, *items]) + "\n")
    args = [
        "run",
        str(suite),
        "--config",
        str(config_file),
        "--model",
        MODEL,
        "--base-url",
        f"{sim.base_url}/v1",
    ]
    args += ["--api-key", "k", "--cache", "--retries", "0"]
    assert main(args) == 0
    # The upstream now fails every request: cached items still pass; an edited item must be asked again.
    set_faults(sim.base_url, fail_rate=1.0, status=500)
    items[1]["input"] = "What is the chemical symbol for silver? Reply with the symbol only."
    items[1]["expected"] = "Ag"
    suite.write_text("\n".join(json.dumps(x) for x in [header, *items]) + "\n")
    code = main(args)
    out = capsys.readouterr().out
    assert "pass 1/2" in out and "1 errors" in out
    assert code == 2  # half the items errored: over max_error_rate, the run is incomplete
    # Without --cache nothing is reused.
    assert main([a for a in args if a != "--cache"]) == 2
    assert "pass 0/2" in capsys.readouterr().out


@pytest.mark.integration
def test_a_run_where_most_items_error_exits_2_and_publishes_a_failed_job(sim_process, config_file, capsys):
    set_faults(sim_process, fail_rate=1.0, status=503, retry_after=0)
    assert run(config_file, sim_process, "--retries", "1", "--concurrency", "16") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("modelgate eval run: 156 of 156 items errored (first: ")
    result, _ = metrics_of(config_file)
    assert result["status"] == "failed" and result["exit_code"] == 2
    with sqlite3.connect(config_file.parent / "data" / "evals" / "history.sqlite") as db:
        assert db.execute("SELECT status, verdict FROM runs").fetchall() == [("incomplete", "incomplete")]


@pytest.mark.integration
def test_judge_items_pass_fail_and_error_through_the_simulator(tmp_path, config_file, capsys):
    judge = JudgeConfig(rubric="Is the answer correct?")
    items = [
        ("good", "Name a primary colour.", "Red.", "Score: 5"),
        ("weak", "Name a mammal.", "A shark.", '{"score": 2}'),
        ("odd", "Name a planet.", "Mars.", "I cannot grade this."),
    ]
    suite_lines = [{"suite": "judged", "scorer": {"type": "judge", "rubric": judge.rubric}}]
    answers = []
    for item_id, prompt, reply, verdict in items:
        suite_lines.append({"id": item_id, "input": prompt})
        answers.append({"prompt": prompt, "answer": reply})
        judge_prompt = build_judge_messages(judge, prompt, reply, None)[-1]["content"]
        answers.append({"prompt": judge_prompt, "answer": verdict})
    suite = tmp_path / "judged.jsonl"
    suite.write_text("\n".join(json.dumps(x) for x in suite_lines) + "\n")
    answers_file = tmp_path / "answers.jsonl"
    answers_file.write_text("\n".join(json.dumps(x) for x in answers) + "\n")
    out_json = tmp_path / "j.json"
    with SimServer(SimConfig(model=MODEL, ttft_ms=0, itl_ms=0, answers_file=answers_file)) as sim:
        args = ["run", str(suite), "--config", str(config_file), "--model", MODEL, "--json", str(out_json)]
        code = main([*args, "--base-url", f"{sim.base_url}/v1", "--api-key", "k"])
    summary = json.loads(out_json.read_text())
    assert summary["counts"] == {"items": 3, "pass": 1, "fail": 1, "error": 1, "skipped": 0}
    assert summary["errors"][0]["id"] == "odd" and "unparsable judge reply" in summary["errors"][0]["detail"]
    assert summary["score"] == pytest.approx((1.0 + 0.25) / 2)  # the error counts as neither 0 nor 1
    assert code == 2  # a third of the items errored: over evals.max_error_rate (0.2)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            ['{"id": "a", "input": "x", "expected": "y", "scorer": "exact"}', "{not json"],
            "bad.jsonl line 2: not valid JSON",
        ),
        (
            ['{"suite": "b"}', '{"id": "a", "input": "x", "expected": "y", "scorer": "fuzzy"}'],
            "line 2: unknown scorer 'fuzzy'",
        ),
    ],
)
def test_bad_suites_exit_2_with_one_line_naming_the_line(tmp_path, config_file, capsys, lines, message):
    suite = tmp_path / "bad.jsonl"
    suite.write_text("\n".join(lines) + "\n")
    code = main(
        [
            "run",
            str(suite),
            "--config",
            str(config_file),
            "--model",
            "m",
            "--base-url",
            "http://x/v1",
            "--api-key",
            "k",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "core", "--model", "m", "--api-key", "k"], "no gateway URL"),
        (["run", "core", "--model", "m", "--base-url", "http://x/v1"], "no API key"),
        (["run", "core", "--base-url", "http://x/v1", "--api-key", "k"], "no model"),
        (
            ["run", "nope", "--model", "m", "--base-url", "http://x/v1", "--api-key", "k"],
            "suite 'nope' not found",
        ),
        (
            ["run", "core", "--model", "m", "--base-url", "u", "--api-key", "k", "--baseline", "last:3"],
            "trailing:K",
        ),
        (
            ["run", "core", "--model", "m", "--base-url", "u", "--api-key", "k", "--concurrency", "0"],
            "must be >= 1",
        ),
        (["run"], "the following arguments are required: suite"),
        (["bogus"], "invalid choice"),
        (["sample", "--base-url", "u", "--api-key", "k", "--rate", "2"], "--rate must be"),
    ],
)
def test_usage_errors_exit_2_with_one_line(config_file, capsys, argv, message):
    assert main([*argv, "--config", str(config_file)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err


def test_bad_evals_config_exits_2_naming_the_field(tmp_path, capsys):
    path = tmp_path / "modelgate.yaml"
    path.write_text(yaml.safe_dump({"evals": {"regression": {"alpha": 3}}}))
    assert main(["history", "--config", str(path)]) == 2
    assert "evals.regression.alpha" in capsys.readouterr().err
    path.write_text(yaml.safe_dump({"evals": {"concurency": 3}}))
    assert main(["history", "--config", str(path)]) == 2
    assert "evals.concurency" in capsys.readouterr().err
    assert main(["history", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    assert main(["run", "--help"]) == 0
    assert "--baseline" in capsys.readouterr().out
    assert main([]) == 2


def test_a_corrupt_history_file_exits_2(config_file, capsys):
    history = config_file.parent / "data" / "evals" / "history.sqlite"
    history.parent.mkdir(parents=True)
    history.write_bytes(b"this is not a database" * 100)
    assert main(["history", "--config", str(config_file)]) == 2
    assert "run history: file is not a database" in capsys.readouterr().err
