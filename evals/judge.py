"""The LLM judge: the rubric prompt it is sent, and a robust parser for the score it answers.

The call itself goes through the gateway like any other item (`evals.client.complete`); this module stays
pure. A judge reply the parser cannot read is an ERROR outcome — never a zero and never a pass — so a judge
that drifts into prose shows up as errors in the report instead of as a fake quality drop.

    >>> parse_judge_score("The answer is right.\\nScore: 4/5", 1, 5)
    4.0
    >>> judge_outcome("I think it's fine", JudgeConfig(rubric="...")).outcome
    <Outcome.ERROR: 'error'>
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evals.scorers import Outcome, Score

__all__ = [
    "DEFAULT_RUBRIC",
    "JudgeConfig",
    "build_judge_messages",
    "judge_config_from",
    "judge_outcome",
    "parse_judge_score",
    "render_prompt",
]

DEFAULT_RUBRIC = (
    "Judge whether the response answers the user's request correctly, completely and without made-up facts. "
    "1 = wrong, harmful or off-topic; 3 = partly right or missing something important; "
    "5 = fully correct and directly useful."
)

JUDGE_SYSTEM = (
    "You are a strict evaluator. Grade the RESPONSE to the PROMPT against the RUBRIC. "
    "Give at most two sentences of reasoning, then a last line of the form `Score: N`."
)


@dataclass(frozen=True)
class JudgeConfig:
    """How to judge: the rubric, the integer scale, the raw score that counts as a pass, the judge model."""

    rubric: str = DEFAULT_RUBRIC
    scale_min: int = 1
    scale_max: int = 5
    pass_threshold: float = 4.0
    model: str | None = None  # None: the model under test judges itself
    max_tokens: int = 256

    def __post_init__(self) -> None:
        if self.scale_max <= self.scale_min:
            raise ValueError("judge scale_max must be greater than scale_min")
        if not self.scale_min <= self.pass_threshold <= self.scale_max:
            raise ValueError("judge pass_threshold must lie on the scale")


def judge_config_from(base: JudgeConfig, overrides: Mapping[str, Any]) -> JudgeConfig:
    """`base` with an item's judge scorer options applied (rubric, scale_min, scale_max, …)."""
    fields = {k: v for k, v in overrides.items() if k in JudgeConfig.__dataclass_fields__}
    merged = {**base.__dict__, **fields}
    return JudgeConfig(**merged)


def render_prompt(prompt: str | list[dict[str, Any]]) -> str:
    """A prompt string as is; a chat as `role: content` lines (what the judge reads)."""
    if isinstance(prompt, str):
        return prompt
    return "\n".join(f"{m.get('role', 'user')}: {m.get('content', '')}" for m in prompt)


def build_judge_messages(
    cfg: JudgeConfig, prompt: str | list[dict[str, Any]], output: str, reference: str | None
) -> list[dict[str, str]]:
    """The chat sent to the judge model."""
    parts = [f"RUBRIC:\n{cfg.rubric}", f"PROMPT:\n{render_prompt(prompt)}"]
    if reference:
        parts.append(f"REFERENCE ANSWER:\n{reference}")
    parts.append(f"RESPONSE:\n{output}")
    parts.append(f"Score the RESPONSE with an integer from {cfg.scale_min} to {cfg.scale_max}.")
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


_NUM = r"(-?\d+(?:\.\d+)?)"
_LABELLED = re.compile(
    rf"\b(?:score|rating|grade)\b\s*(?:is|of|=|:|-)?\s*\**\s*{_NUM}\s*\**\s*(?:(?:/|out\s+of)\s*(\d+))?",
    re.IGNORECASE,
)
_BARE = re.compile(rf"^{_NUM}(?:\s*(?:/|out\s+of)\s*(\d+))?$", re.IGNORECASE)
_OBJECT = re.compile(r"\{[^{}]*\}")


def _from_json(text: str) -> float | None:
    candidates = [text.strip().removeprefix("```json").removeprefix("```").removesuffix("```")]
    candidates += [m.group(0) for m in _OBJECT.finditer(text)]
    for chunk in candidates:
        try:
            data = json.loads(chunk)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        for key, value in data.items():
            if key.lower() in ("score", "rating", "grade"):
                if isinstance(value, bool):
                    return None
                if isinstance(value, int | float):
                    return float(value)
                if isinstance(value, str) and re.fullmatch(_NUM, value.strip()):
                    return float(value)
                return None
    return None


def parse_judge_score(text: str, scale_min: int, scale_max: int) -> float | None:
    """The judge's raw score, or None when the reply holds no readable score on the scale.

    Accepted, in this order: a JSON object with a `score` (or `rating`/`grade`) key; the last labelled
    score in prose ("Score: 4", "rating = 4/5", "**Score:** 4 out of 5"); a bare number ("4", "4/5").
    A fraction whose denominator is not the scale's maximum ("8/10" on 1–5) is refused, not rescaled.
    """
    value = _from_json(text)
    denominator: str | None = None
    if value is None:
        matches = list(_LABELLED.finditer(text))
        if matches:
            value, denominator = float(matches[-1].group(1)), matches[-1].group(2)
        else:
            bare = _BARE.match(text.strip().strip("*.` \n"))
            if bare:
                value, denominator = float(bare.group(1)), bare.group(2)
    if value is None:
        return None
    if denominator is not None and int(denominator) != scale_max:
        return None
    return value if scale_min <= value <= scale_max else None


def judge_outcome(text: str, cfg: JudgeConfig) -> Score:
    """The item's Score from the judge's reply: normalised to [0, 1]; ERROR when unparsable."""
    raw = parse_judge_score(text, cfg.scale_min, cfg.scale_max)
    if raw is None:
        snippet = " ".join(text.split())[:80]
        return Score.error(f"unparsable judge reply: {snippet!r}")
    value = (raw - cfg.scale_min) / (cfg.scale_max - cfg.scale_min)
    passed = raw >= cfg.pass_threshold
    return Score(Outcome.PASS if passed else Outcome.FAIL, value, f"judge {raw:g}/{cfg.scale_max}")
