"""Suite files: the format, the checks with line numbers, and the shipped `core` suite and its generator."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evals.scorers import Outcome, apply
from evals.suite import SuiteError, default_suites_dir, load_suite, resolve_suite

SUITES = default_suites_dir()


def write(tmp_path: Path, *lines, name="s.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def test_header_gives_name_default_scorer_and_params(tmp_path):
    path = write(
        tmp_path,
        {"suite": "mini", "scorer": {"type": "exact", "ignore_case": False}, "params": {"max_tokens": 8}},
        {"id": "a", "input": "Say A", "expected": "A"},
        "",
        {
            "id": "b",
            "input": "2+2?",
            "expected": 4,
            "scorer": "numeric",
            "params": {"temperature": 0},
            "tags": ["m"],
        },
    )
    suite = load_suite(path)
    assert suite.name == "mini"
    assert suite.api == "chat"
    a, b = suite.items
    assert a.scorer.type == "exact" and a.scorer.options == {"ignore_case": False}
    assert a.params == {"max_tokens": 8}
    assert (b.scorer.type, b.params, b.tags, b.line) == (
        "numeric",
        {"max_tokens": 8, "temperature": 0},
        ("m",),
        4,
    )


def test_without_header_the_file_name_is_the_suite_name(tmp_path):
    suite = load_suite(
        write(tmp_path, {"id": "a", "input": "x", "expected": "y", "scorer": "exact"}, name="abc.jsonl")
    )
    assert suite.name == "abc"


def test_chat_messages_input(tmp_path):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    suite = load_suite(
        write(tmp_path, {"id": "a", "input": messages, "expected": "Hello", "scorer": "contains"})
    )
    assert suite.items[0].input == messages


def test_hashes_change_with_what_they_cover(tmp_path):
    one = load_suite(write(tmp_path, {"id": "a", "input": "x", "expected": "y", "scorer": "exact"})).items[0]
    other_expected = load_suite(
        write(tmp_path, {"id": "a", "input": "x", "expected": "z", "scorer": "exact"})
    ).items[0]
    other_input = load_suite(
        write(tmp_path, {"id": "a", "input": "x2", "expected": "y", "scorer": "exact"})
    ).items[0]
    assert one.request_hash == other_expected.request_hash  # same question: a cached answer still applies
    assert one.item_hash != other_expected.item_hash  # scored differently: never paired with old results
    assert one.request_hash != other_input.request_hash
    assert one.key.startswith("a#")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            ['{"id": "a", "input": "x", "expected": "y", "scorer": "exact"}', '{"id": "b", "input": '],
            "line 2: not valid JSON",
        ),
        ([{"id": "a", "input": "x", "expected": "y", "scorer": "exactt"}], "line 1: unknown scorer 'exactt'"),
        ([{"suite": "s"}, {"id": "a", "input": "x", "expected": "y"}], 'line 2: no "scorer" and no default'),
        ([{"suite": "s", "scorer": "nope"}], "line 1: unknown scorer 'nope'"),
        ([{"suite": "s", "colour": 1}], "line 1: header has unknown key 'colour'"),
        ([{"id": "a", "input": "x", "scorer": "exact"}], 'line 1: missing "expected"'),
        ([{"id": "a", "expected": "x", "scorer": "exact"}], 'line 1: missing "input"'),
        ([{"id": "", "input": "x", "expected": "y", "scorer": "exact"}], 'line 1: "id" must be'),
        ([{"id": "a#b", "input": "x", "expected": "y", "scorer": "exact"}], 'without "#"'),
        (
            [{"id": "a", "input": "x", "expected": "y", "scorer": "exact", "weight": 2}],
            "line 1: unknown key 'weight'",
        ),
        ([{"id": "a", "input": "", "expected": "y", "scorer": "exact"}], "line 1: input must be"),
        (
            [{"id": "a", "input": [{"role": "bot", "content": "x"}], "expected": "y", "scorer": "exact"}],
            "role",
        ),
        (
            [
                {
                    "id": "a",
                    "input": [{"role": "assistant", "content": "x"}],
                    "expected": "y",
                    "scorer": "exact",
                }
            ],
            "last input",
        ),
        (
            [{"id": "a", "input": "x", "expected": "y", "scorer": "exact", "params": {"temp": 0}}],
            "unknown parameter 'temp'",
        ),
        ([{"id": "a", "input": "x", "expected": 3, "scorer": "exact"}], "line 1: expected must be a string"),
        ([{"id": "a", "input": "x", "expected": "y", "scorer": "exact", "tags": "t"}], '"tags" must be'),
        ([[1, 2]], "line 1: each line must be a JSON object"),
        (
            [
                {"id": "a", "input": "x", "expected": "y", "scorer": "exact"},
                {"id": "a", "input": "z", "expected": "y", "scorer": "exact"},
            ],
            "line 2: duplicate id 'a' \\(first on line 1\\)",
        ),
        (
            [
                {"suite": "s", "api": "completions"},
                {"id": "a", "input": [{"role": "user", "content": "x"}], "expected": "y", "scorer": "exact"},
            ],
            "line 2: a suite with api completions needs prompt strings",
        ),
        ([], "no items"),
    ],
)
def test_bad_suites_name_the_line(tmp_path, lines, message):
    path = write(tmp_path, *lines) if lines else tmp_path / "s.jsonl"
    if not lines:
        path.write_text("\n")
    with pytest.raises(SuiteError, match=message):
        load_suite(path)


def test_resolve_by_path_or_by_name(tmp_path):
    path = write(tmp_path, {"id": "a", "input": "x", "expected": "y", "scorer": "exact"}, name="mine.jsonl")
    assert resolve_suite(str(path), SUITES) == path
    assert resolve_suite("mine", tmp_path) == tmp_path / "mine.jsonl"
    assert resolve_suite("core", SUITES) == SUITES / "core.jsonl"
    with pytest.raises(SuiteError, match="not found"):
        resolve_suite("nope", SUITES)


def test_core_suite_is_big_varied_and_its_answers_pass():
    suite = load_suite(SUITES / "core.jsonl")
    assert suite.name == "core"
    assert len(suite.items) >= 100
    assert {i.scorer.type for i in suite.items} >= {
        "numeric",
        "exact",
        "contains",
        "json_match",
        "json_schema",
        "choice",
        "regex",
    }
    answers = {}
    for line in (SUITES / "core.answers.jsonl").read_text().splitlines():
        row = json.loads(line)
        answers[row["prompt"]] = row["answer"]
    assert len(answers) == len(suite.items)  # one distinct prompt per item
    for item in suite.items:
        prompt = item.input if isinstance(item.input, str) else item.input[-1]["content"]
        result = apply(item.scorer, answers[prompt.strip()], item.expected)
        assert result.outcome is Outcome.PASS, (item.id, result.detail)


def test_simulator_wrong_answers_fail_every_core_item():
    from adapters.vllm.sim.answers import wrong_answer

    suite = load_suite(SUITES / "core.jsonl")
    answers = {
        json.loads(line)["prompt"]: json.loads(line)["answer"]
        for line in (SUITES / "core.answers.jsonl").open()
    }
    for item in suite.items:
        prompt = item.input if isinstance(item.input, str) else item.input[-1]["content"]
        wrong = wrong_answer(answers[prompt.strip()])
        assert apply(item.scorer, wrong, item.expected).outcome is Outcome.FAIL, (item.id, wrong)


def test_generator_is_deterministic_and_the_shipped_files_are_current(tmp_path):
    script = SUITES / "build_core_suite.py"
    subprocess.run([sys.executable, str(script), "--out", str(tmp_path)], check=True, capture_output=True)
    for name in ("core.jsonl", "core.answers.jsonl"):
        assert (tmp_path / name).read_bytes() == (SUITES / name).read_bytes(), name
