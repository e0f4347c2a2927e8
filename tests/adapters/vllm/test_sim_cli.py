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
from adapters.vllm.sim.config import Faults

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--port", "abc"], "invalid int value"),
        (["--bogus"], "unrecognized arguments"),
        (["--fail-rate", "1.5"], "fail_rate must be between 0 and 1"),
        (["--wrong-rate", "-0.1"], "wrong_rate must be between 0 and 1"),
        (["--tokens", "0"], "tokens must be >= 1"),
        (["--max-concurrency", "0"], "max_concurrency must be >= 1"),
        (["--ttft-ms", "-1"], "ttft_ms must be >= 0"),
        (["--fail-status", "404"], "invalid choice"),
        (["--port", "70000"], "port must be between 0 and 65535"),
        (["--answers", "/nonexistent/answers.jsonl"], "cannot read answers file"),
        (["--overreport-tokens", "-2"], "overreport_tokens must be >= 0"),
        (["--overreport-tokens", "1.5"], "invalid int value"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("modelgate vllm-sim: ")
    assert fragment in err


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
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "vllm-sim", "--port", "0", "--model", "tiny", "--ttft-ms", "0"],
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
        chat = httpx.post(
            base + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "yo"}]}
        )
        assert chat.json()["model"] == "tiny"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(15)
        if proc.stderr is not None:
            proc.stderr.close()
    # uvicorn shuts down gracefully on SIGTERM and then re-raises it, so the exit status is the signal's.
    assert code in (0, -signal.SIGTERM)
