"""Unit tests for the simulator's pure parts: tokenizer, answers, fault settings, request validation,
wire encoding, the concurrency gate and the metrics tallies."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from adapters.vllm.sim.answers import WRONG_TEXT, load_answers, wrong_answer
from adapters.vllm.sim.config import Faults, SimConfig
from adapters.vllm.sim.gate import Gate
from adapters.vllm.sim.metrics import SimMetrics, Tally
from adapters.vllm.sim.responses import ChunkEncoder, chat_completion_body, completion_body
from adapters.vllm.sim.tokens import chat_prompt_tokens, count_tokens, pad_tokens, split_tokens
from adapters.vllm.sim.tracing import resolve_traces_endpoint
from adapters.vllm.sim.wire import ApiError, parse_chat, parse_completion


def test_tokens_round_trip_and_count() -> None:
    text = "Hello, world!  It's 42.5 degrees"
    pieces = split_tokens(text)
    assert "".join(pieces) == text
    assert pieces[:4] == ["Hello", ",", " world", "!"]
    assert count_tokens(text) == len(pieces) == 11  # Hello , world ! It ' s 42 . 5 degrees
    assert count_tokens("") == 0
    assert chat_prompt_tokens(["a b", "c"]) == 3 + 2 * 4


@pytest.mark.parametrize(
    ("text", "n", "expected"),
    [
        ("one two three four", 2, "one two"),
        ("  Hi!", 5, "Hi! Hi! Hi"),
        ("exactly three words", 3, "exactly three words"),
        ("", 3, "lorem ipsum dolor"),
    ],
)
def test_pad_tokens_cuts_and_repeats(text: str, n: int, expected: str) -> None:
    pieces = pad_tokens(text, n)
    assert len(pieces) == n
    assert "".join(pieces) == expected


@pytest.mark.parametrize(
    ("right", "wrong"),
    [("42", "85"), ("The answer is 7 apples.", "The answer is 15 apples."), ("-3", "1"), ("3.14", "7.28")],
)
def test_wrong_answer_changes_every_number(right: str, wrong: str) -> None:
    assert wrong_answer(right) == wrong


def test_wrong_answer_without_numbers_is_a_fixed_non_answer() -> None:
    assert wrong_answer("Paris") == WRONG_TEXT
    assert wrong_answer(WRONG_TEXT) != WRONG_TEXT


def test_load_answers(tmp_path: Path) -> None:
    path = tmp_path / "answers.jsonl"
    path.write_text(
        '{"prompt": " What is 2+2? ", "answer": 4}\n\n{"prompt": "Capital of France?", "answer": "Paris"}\n'
    )
    assert load_answers(path) == {"What is 2+2?": "4", "Capital of France?": "Paris"}


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("not json\n", "line 1: not JSON"),
        ('{"prompt": "a"}\n', "'answer' must be a string"),
        ('["a", "b"]\n', "expected an object"),
        ('{"prompt": "a", "answer": "x"}\n{"prompt": "a", "answer": "y"}\n', "line 2: prompt 'a' already"),
    ],
)
def test_load_answers_rejects_bad_files(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "answers.jsonl"
    path.write_text(content)
    with pytest.raises(ValueError, match="answers file") as info:
        load_answers(path)
    assert fragment in str(info.value)


def test_faults_update_validates() -> None:
    faults = Faults.from_config(SimConfig(fail_rate=0.2, wrong_rate=0.1))
    assert (faults.fail_rate, faults.wrong_rate, faults.status) == (0.2, 0.1, 500)
    updated = faults.updated({"status": 503, "drop_rate": 0.5})
    assert (updated.status, updated.drop_rate, updated.fail_rate) == (503, 0.5, 0.2)
    bad: list[tuple[dict[str, object], str]] = [
        ({"status": 404}, "status must be one of"),
        ({"fail_rate": 1.5}, "between 0 and 1"),
        ({"bogus": 1}, "unknown fault setting"),
        ({"hang_rate": "x"}, "must be a number"),
    ]
    for patch, fragment in bad:
        with pytest.raises(ValueError, match=fragment):
            faults.updated(patch)


def test_config_problems() -> None:
    assert SimConfig().problems() == []
    problems = SimConfig(tokens=0, fail_rate=2, fail_status=418, ttft_ms=-1).problems()
    assert len(problems) == 4


def _chat(**fields: object) -> bytes:
    body: dict[str, object] = {"model": "m", "messages": [{"role": "user", "content": "hi there"}]}
    body.update(fields)
    return json.dumps(body).encode()


def test_parse_chat_takes_last_user_message_and_counts_tokens() -> None:
    body = json.dumps(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "What is 2+2?"}]},
                {"role": "assistant", "content": None},
            ],
            "max_completion_tokens": 5,
            "max_tokens": 9,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ).encode()
    req = parse_chat(body, "m", 100)
    assert req.model == "m"  # a missing model means the served one
    assert req.prompt_text == "What is 2+2?"
    assert req.prompt_tokens == 3 + 6 + 0 + 3 * 4
    assert req.max_tokens == 5  # max_completion_tokens wins, as in vLLM
    assert req.stream and req.include_usage
    # vLLM's StreamOptions defaults include_usage to false.
    assert not parse_chat(_chat(stream=True, stream_options={}), "m", 100).include_usage


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        (b"{nope", 400, None),
        (b"[1]", 400, None),
        (_chat(model="other"), 404, "model"),
        (_chat(messages=[]), 400, "messages"),
        (_chat(messages=[{"content": "x"}]), 400, "messages"),
        (_chat(messages=[{"role": "user", "content": [{"type": "image_url"}]}]), 400, "messages"),
        (_chat(max_tokens=0), 400, "max_tokens"),
        (_chat(max_tokens="5x"), 400, "body.max_tokens"),
        (_chat(max_tokens=99), 400, "input_tokens"),  # prompt + max_tokens past max_model_len
        (_chat(max_tokens=101), 400, "max_tokens"),  # max_tokens alone past max_model_len
        (_chat(stream_options={"include_usage": True}), 400, "stream_options"),
        (_chat(stream="maybe"), 400, "body.stream"),
        (_chat(n=0), 400, None),
        (_chat(temperature=-1), 400, "temperature"),
        (_chat(seed=1.5), 400, "body.seed"),
    ],
)
def test_parse_chat_rejects(body: bytes, status: int, param: str | None) -> None:
    with pytest.raises(ApiError) as info:
        parse_chat(body, "m", 100)
    assert (info.value.status, info.value.param) == (status, param)
    # Request-model (pydantic) failures are typed "Bad Request" by vLLM's FastAPI handler, serving-time
    # checks "BadRequestError".
    expected = "NotFoundError" if status == 404 else "BadRequestError"
    if param is not None and (param.startswith("body.") or param == "stream_options"):
        expected = "Bad Request"
    assert info.value.err_type == expected


def test_parse_completion_defaults_max_tokens_to_16() -> None:
    req = parse_completion(b'{"model": "m", "prompt": ["Once upon"]}', "m", 100)
    assert (req.prompt_text, req.prompt_tokens, req.max_tokens, req.chat) == ("Once upon", 2, 16, False)
    # vLLM's normalize_null_max_tokens: an explicit null is the default too.
    assert parse_completion(b'{"prompt": "x", "max_tokens": null}', "m", 100).max_tokens == 16


def test_bodies_and_chunks_are_valid_json_with_escaping() -> None:
    text = 'say "hi"\n\\ ünï'
    chat = json.loads(chat_completion_body("chatcmpl-1", 7, 'm"x', [(text, "stop")], 3, 4))
    assert chat["choices"][0]["message"] == {"role": "assistant", "content": text, "tool_calls": []}
    assert chat["usage"] == {"prompt_tokens": 3, "total_tokens": 7, "completion_tokens": 4}
    assert chat["model"] == 'm"x'
    completion = json.loads(completion_body("cmpl-1", 7, "m", [(text, "length")], 3, 4))
    assert completion["choices"][0]["text"] == text
    assert completion["choices"][0]["finish_reason"] == "length"
    for chat_mode in (True, False):
        enc = ChunkEncoder(chat_mode, "id-1", 7, "m")
        lines = [enc.token(text), enc.last(text, "stop"), enc.usage(3, 4)] + (
            [enc.role()] if chat_mode else []
        )
        for line in lines:
            assert line.startswith("data: ") and line.endswith("\n\n")
            chunk = json.loads(line[6:])
            assert chunk["object"] == ("chat.completion.chunk" if chat_mode else "text_completion")
        assert json.loads(enc.usage(3, 4)[6:])["choices"] == []


def test_gate_queues_fifo_and_counts() -> None:
    async def scenario() -> list[int]:
        gate = Gate(1)
        order: list[int] = []
        assert gate.try_acquire()

        async def worker(i: int) -> None:
            await gate.acquire()
            order.append(i)
            gate.release()

        tasks = [asyncio.create_task(worker(i)) for i in range(3)]
        await asyncio.sleep(0)
        assert gate.state() == (1, 3, 1)
        tasks[1].cancel()  # a cancelled waiter gives up its place
        await asyncio.sleep(0)
        assert gate.waiting == 2
        gate.release()
        await asyncio.gather(tasks[0], tasks[2])
        assert gate.state() == (0, 0, 1)
        return order

    assert asyncio.run(scenario()) == [0, 2]


def test_tally_buckets_are_cumulative_with_le_semantics() -> None:
    tally = Tally([0.1, 1.0])
    for value in (0.1, 0.5, 2.0):
        tally.observe(value)
    tally.observe_many(0.0, 2)
    assert tally.buckets() == [("0.1", 3), ("1.0", 4), ("+Inf", 5)]
    assert tally.total == pytest.approx(2.6)


def test_metrics_expose_vllm_names() -> None:
    registry = CollectorRegistry()
    metrics = SimMetrics("m", lambda: (3, 2, 4), registry)
    metrics.finished("length", 10, 5)
    metrics.ttft.observe(0.02)
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    assert families["vllm:prompt_tokens"].samples[0].name == "vllm:prompt_tokens_total"
    assert families["vllm:prompt_tokens"].samples[0].value == 10
    assert families["vllm:kv_cache_usage_perc"].samples[0].value == 0.75
    assert families["vllm:num_requests_waiting"].samples[0].labels == {"model_name": "m"}
    success = {s.labels["finished_reason"]: s.value for s in families["vllm:request_success"].samples}
    assert success == {"stop": 0, "length": 1, "abort": 0}
    assert families["vllm:time_to_first_token_seconds"].type == "histogram"


def test_resolve_traces_endpoint() -> None:
    assert resolve_traces_endpoint(None, {}) is None
    assert resolve_traces_endpoint("http://c:4318", {}) == "http://c:4318/v1/traces"
    assert resolve_traces_endpoint("http://c:4318/v1/traces", {}) == "http://c:4318/v1/traces"
    assert resolve_traces_endpoint(None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}) == (
        "http://c:4318/v1/traces"
    )
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:1", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:2/t"}
    assert resolve_traces_endpoint(None, env) == "http://b:2/t"
