"""`modelgate vllm-sim`: bad arguments exit 2 with one line; good ones serve until SIGTERM."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from adapters.vllm.sim.cli import build_parser, config_from_args, main
from adapters.vllm.sim.config import Faults, SimConfig

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--port", "abc"], "argument --port: not a whole number: 'abc'"),
        (["--port", "70000"], "argument --port: must be between 0 and 65535, got 70000"),
        (["--port"], "argument --port: expected one argument"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--fail-rate", "1.5"], "argument --fail-rate: must be between 0 and 1, got 1.5"),
        (["--wrong-rate", "-0.1"], "argument --wrong-rate: must be between 0 and 1"),
        (["--jitter", "2"], "argument --jitter: must be between 0 and 1"),
        (["--tokens", "0"], "argument --tokens: must be >= 1, got 0"),
        (["--max-concurrency", "0"], "argument --max-concurrency: must be >= 1"),
        (["--max-model-len", "0"], "argument --max-model-len: must be >= 1"),
        (["--ttft-ms", "-1"], "argument --ttft-ms: must be >= 0, got -1"),
        (["--itl-ms", "inf"], "argument --itl-ms: must be a finite number"),
        (["--model", " "], "argument --model: must not be empty"),
        (["--fail-status", "404"], "argument --fail-status: invalid choice: 404"),
        (["--log-level", "loud"], "argument --log-level: invalid choice: 'loud'"),
        (["--answers", "/nonexistent/answers.jsonl"], "cannot read answers file"),
        (["--overreport-tokens", "-2"], "argument --overreport-tokens: must be >= 0"),
        (["--overreport-tokens", "1.5"], "argument --overreport-tokens: not a whole number: '1.5'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_naming_the_argument(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1
    assert captured.err.startswith("modelgate vllm-sim: ")
    assert fragment in captured.err
    assert "usage:" not in captured.err and captured.out == ""


def test_help_exits_0_and_states_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: modelgate vllm-sim ")
    for flag in ("--port PORT", "--ttft-ms TTFT_MS", "--fail-status {500,429,503}", "--otlp-endpoint"):
        assert flag in out
    assert "served model name (default: sim-llama-3-8b)" in out


def test_flag_defaults_are_the_config_defaults() -> None:
    # conftest's clean environment has no OTEL_* variable, so tracing stays off by default.
    assert config_from_args(build_parser().parse_args([])) == SimConfig()


def test_flags_reach_the_config(tmp_path: Path) -> None:
    argv = ["--model", "m", "--max-model-len", "64", "--ttft-ms", "0", "--itl-ms", "1.5", "--jitter", "0"]
    argv += ["--tokens", "3", "--max-concurrency", "2", "--fail-rate", "0.25", "--fail-status", "503"]
    argv += ["--wrong-rate", "0.5", "--seed", "9", "--answers", str(tmp_path / "a.jsonl")]
    argv += ["--otlp-endpoint", "http://127.0.0.1:4318"]
    config = config_from_args(build_parser().parse_args(argv))
    assert config == SimConfig(
        model="m",
        max_model_len=64,
        ttft_ms=0.0,
        itl_ms=1.5,
        jitter=0.0,
        tokens=3,
        max_concurrency=2,
        fail_rate=0.25,
        fail_status=503,
        wrong_rate=0.5,
        seed=9,
        answers_file=tmp_path / "a.jsonl",
        otlp_traces_endpoint="http://127.0.0.1:4318/v1/traces",
    )


def test_overreport_tokens_flag_sets_the_starting_fault() -> None:
    config = config_from_args(build_parser().parse_args(["--overreport-tokens", "5"]))
    assert Faults.from_config(config).overreport_tokens == 5
    assert Faults.from_config(config_from_args(build_parser().parse_args([]))).overreport_tokens == 0


def test_bad_answers_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answers = tmp_path / "answers.jsonl"
    answers.write_text('{"prompt": "q", "answer": "a"}\n{"prompt": "q"\n')
    assert main(["--answers", str(answers)]) == 2
    err = capsys.readouterr().err
    assert (
        err.strip()
        == f"modelgate vllm-sim: answers file {answers} line 2: not JSON (Expecting ',' delimiter)"
    )


def test_busy_port_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.integration
@pytest.mark.slow
def test_serves_until_sigterm() -> None:
    flags = ["--port", "0", "--model", "tiny", "--ttft-ms", "0", "--itl-ms", "0", "--tokens", "3"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "vllm-sim", *flags, "--max-model-len", "512"],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        match = re.search(r"on (http://127\.0\.0\.1:\d+)", first)
        assert match, first
        base = match.group(1)
        for _ in range(100):
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
        models = httpx.get(base + "/v1/models").json()
        assert models["data"][0]["id"] == "tiny"
        assert models["data"][0]["max_model_len"] == 512
        chat = httpx.post(
            base + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "yo"}]}
        ).json()
        assert chat["model"] == "tiny"
        assert chat["usage"]["completion_tokens"] == 3  # --tokens reached the running simulator
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(15)
        if proc.stderr is not None:
            proc.stderr.close()
    # uvicorn shuts down gracefully on SIGTERM and then re-raises it, so the exit status is the signal's.
    assert code in (0, -signal.SIGTERM)
