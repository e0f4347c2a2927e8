"""What the simulator answers: an echo of the prompt, a scripted answer, or a deliberately wrong one.

Scripted answers come from a JSONL file of `{"prompt": ..., "answer": ...}` lines, matched on the last user
message of a chat (or the completion prompt) after stripping surrounding whitespace. Unmatched prompts are
echoed. A matched prompt is answered wrongly with probability `wrong_rate`; the wrong answer is derived
from the right one so that an exact-match scorer always fails on it:

    >>> wrong_answer("The answer is 42.")
    'The answer is 85.'
    >>> wrong_answer("Paris")
    "I don't know."

Echoed answers are never "wrong": there is no right answer for them to differ from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

__all__ = ["WRONG_TEXT", "load_answers", "wrong_answer"]

WRONG_TEXT = "I don't know."
_WRONG_TEXT_ALT = "No."
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _bump(match: re.Match[str]) -> str:
    # n + |n| + 1 is never n, and for positive n it is more than double, so even a scorer with a
    # relative tolerance sees a different number.
    text = match.group()
    if "." in text:
        decimals = len(text.split(".", 1)[1])
        value = float(text)
        return f"{value + abs(value) + 1:.{decimals}f}"
    value_i = int(text)
    return str(value_i + abs(value_i) + 1)


def wrong_answer(right: str) -> str:
    """A wrong answer derived from `right`: every number changed, or else a fixed non-answer."""
    if _NUMBER.search(right):
        return _NUMBER.sub(_bump, right)
    if right.strip().casefold() == WRONG_TEXT.casefold():
        return _WRONG_TEXT_ALT
    return WRONG_TEXT


def load_answers(path: Path) -> dict[str, str]:
    """Read a JSONL answers file into {stripped prompt: answer}.

    Raises ValueError naming the file and line for anything malformed, including one prompt given two
    different answers.
    """
    answers: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read answers file {path}: {exc}") from exc
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"answers file {path} line {lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not JSON ({exc.msg})") from exc
        prompt, answer = _prompt_and_answer(row, where)
        if answers.get(prompt, answer) != answer:
            raise ValueError(f"{where}: prompt {prompt[:60]!r} already has a different answer")
        answers[prompt] = answer
    return answers


def _prompt_and_answer(row: object, where: str) -> tuple[str, str]:
    if not isinstance(row, Mapping):
        raise ValueError(f"{where}: expected an object with 'prompt' and 'answer'")
    prompt, answer = row.get("prompt"), row.get("answer")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(f"{where}: 'prompt' must be a non-empty string")
    # Numbers are accepted as answers ("answer": 4) and served as their text.
    if isinstance(answer, int | float) and not isinstance(answer, bool):
        answer = str(answer)
    if not isinstance(answer, str):
        raise ValueError(f"{where}: 'answer' must be a string")
    return prompt.strip(), answer
