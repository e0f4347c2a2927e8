"""Parsing what an LLM judge says, and the outcome it becomes (ERROR when unreadable)."""

import pytest

from evals.judge import JudgeConfig, build_judge_messages, judge_config_from, judge_outcome, parse_judge_score
from evals.scorers import Outcome


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("Score: 4", 4.0),
        ("The response is accurate.\nScore: 4/5", 4.0),
        ("score = 2", 2.0),
        ("**Score:** 5 out of 5", 5.0),
        ("Rating: 3", 3.0),
        ("I'd give it a grade of 4.", 4.0),
        ('{"score": 4, "reason": "good"}', 4.0),
        ('```json\n{"score": 2}\n```', 2.0),
        ('Reasoning first. {"rating": "3"} done', 3.0),
        ("4", 4.0),
        ("4.", 4.0),
        ("**5**", 5.0),
        ("3/5", 3.0),
        ("Score: 2\nOn reflection, Score: 4", 4.0),
        ("Score: 3.5", 3.5),
    ],
)
def test_readable_scores(text, score):
    assert parse_judge_score(text, 1, 5) == score


@pytest.mark.parametrize(
    "text",
    [
        "",
        "The answer looks fine to me.",
        "Score: 8/10",  # another scale: refused, not rescaled
        "Score: 7",  # off the 1-5 scale
        "Score: 0",
        '{"score": true}',
        '{"score": "high"}',
        "There are 3 problems and 2 strengths.",  # numbers in prose are not a score
        "Score: excellent",
    ],
)
def test_unreadable_replies_give_none(text):
    assert parse_judge_score(text, 1, 5) is None


def test_unparsable_judge_reply_is_an_error_never_a_zero_or_a_pass():
    result = judge_outcome("Looks right to me!", JudgeConfig())
    assert result.outcome is Outcome.ERROR
    assert result.value is None
    assert "unparsable judge reply" in result.detail


def test_outcome_normalises_and_applies_the_pass_threshold():
    cfg = JudgeConfig(scale_min=1, scale_max=5, pass_threshold=4)
    high = judge_outcome("Score: 4", cfg)
    assert (high.outcome, high.value) == (Outcome.PASS, 0.75)
    low = judge_outcome("Score: 3", cfg)
    assert (low.outcome, low.value) == (Outcome.FAIL, 0.5)
    assert judge_outcome("Score: 1", cfg).value == 0.0


def test_other_scales():
    cfg = JudgeConfig(scale_min=0, scale_max=10, pass_threshold=7)
    result = judge_outcome("Score: 8/10", cfg)
    assert (result.outcome, result.value) == (Outcome.PASS, 0.8)


def test_config_checks():
    with pytest.raises(ValueError, match="scale_max"):
        JudgeConfig(scale_min=5, scale_max=5)
    with pytest.raises(ValueError, match="pass_threshold"):
        JudgeConfig(pass_threshold=9)


def test_item_options_override_the_defaults():
    cfg = judge_config_from(JudgeConfig(), {"rubric": "Is it polite?", "pass_threshold": 3, "type": "judge"})
    assert cfg.rubric == "Is it polite?"
    assert cfg.pass_threshold == 3
    assert cfg.scale_max == 5


def test_judge_messages_carry_rubric_prompt_reference_and_response():
    cfg = JudgeConfig(rubric="Is the capital right?")
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of Peru?"}]
    messages = build_judge_messages(cfg, chat, "Lima.", "Lima")
    assert [m["role"] for m in messages] == ["system", "user"]
    body = messages[1]["content"]
    for fragment in (
        "Is the capital right?",
        "user: Capital of Peru?",
        "REFERENCE ANSWER:\nLima",
        "RESPONSE:\nLima.",
    ):
        assert fragment in body
    assert "from 1 to 5" in body
    assert "REFERENCE" not in build_judge_messages(cfg, "Capital of Peru?", "Lima.", None)[1]["content"]
