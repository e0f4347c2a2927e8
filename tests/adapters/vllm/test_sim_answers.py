"""Scripted answers and the wrong-answer rate, seeded for reproducible eval runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from adapters.vllm.sim import SimConfig, SimServer
from adapters.vllm.sim.answers import wrong_answer

pytestmark = pytest.mark.integration

QUESTIONS = {f"What is {i} + {i}?": str(2 * i) for i in range(20)} | {
    "What is the capital of France?": "Paris",
    "Name a primary colour.": "Red",
}


@pytest.fixture(scope="module")
def answers_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("answers") / "answers.jsonl"
    path.write_text(
        "".join(f'{{"prompt": "{q}", "answer": "{a}"}}\n' for q, a in QUESTIONS.items()), encoding="utf-8"
    )
    return path


def _config(answers_file: Path, wrong_rate: float, seed: int = 0) -> SimConfig:
    return SimConfig(ttft_ms=0, itl_ms=0, answers_file=answers_file, wrong_rate=wrong_rate, seed=seed)


def _ask(http: httpx.Client, question: str, **extra: object) -> str:
    body = {"messages": [{"role": "user", "content": question}], **extra}
    content: str = http.post("/v1/chat/completions", json=body).json()["choices"][0]["message"]["content"]
    return content


@pytest.fixture(scope="module")
def right_sim(answers_file: Path) -> Iterator[SimServer]:
    with SimServer(_config(answers_file, wrong_rate=0.0)) as server:
        yield server


def test_scripted_answers_match_on_last_user_message(right_sim: SimServer) -> None:
    with openai.OpenAI(base_url=right_sim.base_url + "/v1", api_key="unused", max_retries=0) as client:
        resp = client.chat.completions.create(
            model="sim-llama-3-8b",
            messages=[
                {"role": "user", "content": "What is 1 + 1?"},
                {"role": "assistant", "content": "2"},
                {"role": "user", "content": "  What is the capital of France?\n"},
            ],
        )
        assert resp.choices[0].message.content == "Paris"
        assert resp.usage is not None and resp.usage.completion_tokens == 1
        completion = client.completions.create(model="sim-llama-3-8b", prompt="What is 7 + 7?")
        assert completion.choices[0].text == "14"
        streamed = client.chat.completions.create(
            model="sim-llama-3-8b", messages=[{"role": "user", "content": "What is 19 + 19?"}], stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "38"
        # An unscripted prompt falls back to the echo.
        echo = client.completions.create(model="sim-llama-3-8b", prompt="not scripted", max_tokens=2)
        assert echo.choices[0].text == "not scripted"


def test_wrong_rate_zero_answers_all_right(right_sim: SimServer) -> None:
    with httpx.Client(base_url=right_sim.base_url) as http:
        assert all(_ask(http, q) == a for q, a in QUESTIONS.items())


def test_wrong_rate_one_answers_all_wrong(answers_file: Path) -> None:
    with SimServer(_config(answers_file, wrong_rate=1.0)) as sim, httpx.Client(base_url=sim.base_url) as http:
        got = {q: _ask(http, q) for q in QUESTIONS}
        metrics = http.get("/metrics").text
    assert all(got[q] != a for q, a in QUESTIONS.items())
    assert got["What is 3 + 3?"] == wrong_answer("6") == "13"
    assert got["What is the capital of France?"] == "I don't know."
    assert f'vllm_sim_faults_injected_total{{kind="wrong"}} {float(len(QUESTIONS))}' in metrics


@pytest.mark.slow
def test_wrong_rate_quarter_over_400_seeded_requests(answers_file: Path) -> None:
    questions = list(QUESTIONS.items())
    with (
        SimServer(_config(answers_file, wrong_rate=0.25)) as sim,
        httpx.Client(base_url=sim.base_url) as http,
    ):
        wrong = [
            _ask(http, questions[i % len(questions)][0], seed=i) != questions[i % len(questions)][1]
            for i in range(400)
        ]
        # A request's own seed fixes its draw: asking again with the same seeds gives the same verdicts.
        again = [
            _ask(http, questions[i % len(questions)][0], seed=i) != questions[i % len(questions)][1]
            for i in range(40)
        ]
    assert 70 <= sum(wrong) <= 130  # 25 % of 400 is 100; the binomial s.d. is ~8.7
    assert again == wrong[:40]


def test_server_seed_makes_runs_reproducible(answers_file: Path) -> None:
    def run(seed: int) -> list[str]:
        with SimServer(_config(answers_file, 0.5, seed)) as sim, httpx.Client(base_url=sim.base_url) as http:
            return [_ask(http, q) for q in list(QUESTIONS) * 2]

    first, second, other = run(7), run(7), run(8)
    assert first == second
    assert first != other
