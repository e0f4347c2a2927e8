"""Deterministic scorers: pure functions from (model output, expected) to a `Score`.

Each scorer returns PASS or FAIL with a value in [0, 1] and a short detail; none of them can ERROR (only the
LLM judge can, see `evals.judge`). A suite names a scorer by type with options, e.g.
`{"type": "numeric", "abs_tol": 0.01}`; `parse_scorer_spec` checks the type and options when the suite
loads, and `check_expected` checks the item's `expected` against the scorer, so a typo is a load error with
a line number, not a silent zero at run time.

    >>> apply(ScorerSpec("exact", {"ignore_punctuation": True}), " Paris. ", "paris").outcome
    <Outcome.PASS: 'pass'>
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from evals.schema_check import SchemaError, check_schema, validate

__all__ = [
    "JUDGE",
    "SCORERS",
    "Outcome",
    "Score",
    "ScorerSpec",
    "apply",
    "check_expected",
    "choice",
    "contains",
    "exact_match",
    "json_match",
    "json_schema",
    "json_valid",
    "numeric",
    "parse_scorer_spec",
    "regex_match",
]

JUDGE = "judge"


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"


@dataclass(frozen=True)
class Score:
    """One item's verdict. `value` is in [0, 1]; it is None exactly when the outcome is ERROR."""

    outcome: Outcome
    value: float | None
    detail: str = ""

    @classmethod
    def of(cls, passed: bool, detail: str = "") -> Score:
        return cls(Outcome.PASS if passed else Outcome.FAIL, 1.0 if passed else 0.0, detail)

    @classmethod
    def error(cls, detail: str) -> Score:
        return cls(Outcome.ERROR, None, detail)


@dataclass(frozen=True)
class ScorerSpec:
    """A scorer type and its options, as written in the suite."""

    type: str
    options: Mapping[str, Any] = field(default_factory=dict)


# --- text normalisation -------------------------------------------------------------------------------


def _normalise(text: str, *, ignore_case: bool, normalize_whitespace: bool, ignore_punctuation: bool) -> str:
    if ignore_punctuation:
        text = "".join(c for c in text if not unicodedata.category(c).startswith("P"))
    if normalize_whitespace:
        text = " ".join(text.split())
    if ignore_case:
        text = text.casefold()
    return text


def _as_list(expected: Any) -> list[str]:
    return [expected] if isinstance(expected, str) else list(expected)


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


# --- scorers ------------------------------------------------------------------------------------------


def exact_match(
    output: str,
    expected: str | list[str],
    *,
    ignore_case: bool = True,
    normalize_whitespace: bool = True,
    ignore_punctuation: bool = False,
) -> Score:
    """PASS when the normalised output equals the (or one of the) normalised expected strings."""
    opts = {
        "ignore_case": ignore_case,
        "normalize_whitespace": normalize_whitespace,
        "ignore_punctuation": ignore_punctuation,
    }
    got = _normalise(output, **opts)
    ok = any(got == _normalise(e, **opts) for e in _as_list(expected))
    return Score.of(ok, "" if ok else f"got {_short(got)}")


def contains(
    output: str, expected: str | list[str], *, ignore_case: bool = True, require: str = "all"
) -> Score:
    """PASS when the output contains all (or, with require="any", any) of the expected substrings."""
    hay = output.casefold() if ignore_case else output
    needles = [n.casefold() if ignore_case else n for n in _as_list(expected)]
    found = [n in hay for n in needles]
    ok = all(found) if require == "all" else any(found)
    missing = [n for n, f in zip(needles, found, strict=True) if not f]
    return Score.of(ok, "" if ok else f"missing {missing[0]!r}")


def regex_match(output: str, expected: str, *, ignore_case: bool = False, fullmatch: bool = False) -> Score:
    """PASS when the pattern is found in the output (or matches all of it, stripped, with fullmatch)."""
    flags = re.IGNORECASE if ignore_case else 0
    text = output.strip() if fullmatch else output
    m = re.fullmatch(expected, text, flags) if fullmatch else re.search(expected, text, flags)
    return Score.of(m is not None, "" if m else f"no match for {expected!r} in {_short(output)}")


_FENCE = re.compile(r"^```[A-Za-z0-9_-]*\s*\n(.*?)\n?```$", re.DOTALL)


def _parse_json(output: str, strip_fences: bool) -> tuple[bool, Any, str]:
    text = output.strip()
    if strip_fences:
        m = _FENCE.match(text)
        if m:
            text = m.group(1).strip()
    try:
        return True, json.loads(text), ""
    except ValueError as exc:
        return False, None, f"not JSON: {exc}"


def json_valid(output: str, expected: Any = None, *, strip_fences: bool = True) -> Score:
    """PASS when the output (inside a ``` fence, if any) parses as JSON. `expected` is ignored."""
    ok, _, why = _parse_json(output, strip_fences)
    return Score.of(ok, why)


def json_schema(output: str, expected: dict[str, Any], *, strip_fences: bool = True) -> Score:
    """PASS when the output parses as JSON and satisfies the schema in `expected` (see schema_check)."""
    ok, value, why = _parse_json(output, strip_fences)
    if not ok:
        return Score.of(False, why)
    errors = validate(value, expected)
    return Score.of(not errors, errors[0] if errors else "")


def json_match(output: str, expected: Any, *, strip_fences: bool = True) -> Score:
    """PASS when the output parses as JSON equal to `expected` (key order and spacing do not matter)."""
    ok, value, why = _parse_json(output, strip_fences)
    if not ok:
        return Score.of(False, why)
    same = json.dumps(value, sort_keys=True) == json.dumps(expected, sort_keys=True)
    return Score.of(same, "" if same else f"got {_short(json.dumps(value, sort_keys=True))}")


# Thousands separators only in well-formed groups ("1,234"), so "1, 2" stays two numbers.
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?")


def numeric(
    output: str,
    expected: float,
    *,
    abs_tol: float = 0.0,
    rel_tol: float = 0.0,
    extract: str = "last",
) -> Score:
    """PASS when the number in the output is within max(abs_tol, rel_tol·|expected|) of `expected`.

    `extract` picks the number: "last" (answers tend to end with it), "first", or "only" (the output must
    contain exactly one number).
    """
    found = [float(m.group(0).replace(",", "")) for m in _NUMBER.finditer(output)]
    if not found:
        return Score.of(False, f"no number in {_short(output)}")
    if extract == "only" and len(found) != 1:
        return Score.of(False, f"{len(found)} numbers in {_short(output)}")
    got = found[0] if extract == "first" else found[-1]
    tol = max(abs_tol, rel_tol * abs(expected))
    ok = math.isfinite(got) and abs(got - expected) <= tol
    return Score.of(ok, "" if ok else f"got {got:g}, expected {expected:g}")


def _pick_choice(output: str, choices: list[str]) -> str | None:
    """The one choice the output commits to, or None when it names none or several."""
    by_key = {c.casefold(): c for c in choices}
    bare = output.strip().strip("()[]*.:;,!\"' \n").casefold()
    if bare in by_key:
        return by_key[bare]
    alternatives = "|".join(re.escape(c) for c in sorted(choices, key=len, reverse=True))
    # "The answer is (B)", "Answer: B", "B) Paris" — an explicit commitment wins over a mention.
    for pattern in (
        rf"answer\s*(?:is|:|-)?\s*[\(\[]?\**({alternatives})\b",
        rf"^\s*[\(\[]?({alternatives})[\)\].:]",
    ):
        m = re.search(pattern, output, re.IGNORECASE)
        if m:
            return by_key[m.group(1).casefold()]
    # Otherwise: exactly one distinct choice named as a standalone token. Case-sensitive, so the article
    # "a" is not taken for choice "A".
    named = {m.group(1) for m in re.finditer(rf"(?<!\w)({alternatives})(?!\w)", output)}
    return named.pop() if len(named) == 1 else None


def choice(output: str, expected: str, *, choices: list[str] | None = None) -> Score:
    """PASS when the output commits to exactly the expected choice among `choices` (default A–D)."""
    options = choices or ["A", "B", "C", "D"]
    got = _pick_choice(output, options)
    if got is None:
        return Score.of(False, f"no single choice in {_short(output)}")
    ok = got.casefold() == expected.casefold()
    return Score.of(ok, "" if ok else f"chose {got}")


# --- registry -----------------------------------------------------------------------------------------


def _is_str_or_str_list(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)
    )


def _expect_text(expected: Any, options: Mapping[str, Any]) -> None:
    if not _is_str_or_str_list(expected):
        raise ValueError("expected must be a string or a non-empty list of strings")


def _expect_pattern(expected: Any, options: Mapping[str, Any]) -> None:
    if not isinstance(expected, str):
        raise ValueError("expected must be a regular expression string")
    try:
        re.compile(expected)
    except re.error as exc:
        raise ValueError(f"expected is not a valid regular expression: {exc}") from None


def _expect_anything(expected: Any, options: Mapping[str, Any]) -> None:
    return None


def _expect_schema(expected: Any, options: Mapping[str, Any]) -> None:
    try:
        check_schema(expected)
    except SchemaError as exc:
        raise ValueError(f"expected: {exc}") from None


def _expect_number(expected: Any, options: Mapping[str, Any]) -> None:
    if isinstance(expected, bool) or not isinstance(expected, int | float) or not math.isfinite(expected):
        raise ValueError("expected must be a finite number")


def _expect_choice(expected: Any, options: Mapping[str, Any]) -> None:
    choices = options.get("choices") or ["A", "B", "C", "D"]
    if not isinstance(expected, str) or expected.casefold() not in {c.casefold() for c in choices}:
        raise ValueError(f"expected must be one of the choices {choices}")


def _expect_judge(expected: Any, options: Mapping[str, Any]) -> None:
    if expected is not None and not isinstance(expected, str):
        raise ValueError("expected for the judge must be a reference answer string or null")


@dataclass(frozen=True)
class _Def:
    func: Callable[..., Score] | None
    options: Mapping[str, type | tuple[type, ...]]
    check: Callable[[Any, Mapping[str, Any]], None]
    enums: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


_NUM = (int, float)
SCORERS: dict[str, _Def] = {
    "exact": _Def(
        exact_match,
        {"ignore_case": bool, "normalize_whitespace": bool, "ignore_punctuation": bool},
        _expect_text,
    ),
    "contains": _Def(
        contains, {"ignore_case": bool, "require": str}, _expect_text, {"require": ("all", "any")}
    ),
    "regex": _Def(regex_match, {"ignore_case": bool, "fullmatch": bool}, _expect_pattern),
    "json_valid": _Def(json_valid, {"strip_fences": bool}, _expect_anything),
    "json_schema": _Def(json_schema, {"strip_fences": bool}, _expect_schema),
    "json_match": _Def(json_match, {"strip_fences": bool}, _expect_anything),
    "numeric": _Def(
        numeric,
        {"abs_tol": _NUM, "rel_tol": _NUM, "extract": str},
        _expect_number,
        {"extract": ("last", "first", "only")},
    ),
    "choice": _Def(choice, {"choices": list}, _expect_choice),
    # The judge's options are read by evals.judge; scoring goes through the model, not `apply`.
    JUDGE: _Def(
        None,
        {"rubric": str, "scale_min": int, "scale_max": int, "pass_threshold": _NUM, "model": str},
        _expect_judge,
    ),
}


def parse_scorer_spec(raw: Any) -> ScorerSpec:
    """A scorer spec from the suite: `"exact"` or `{"type": "exact", <options>}`. Raises ValueError."""
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise ValueError('scorer must be a name or an object with a "type"')
    kind = raw["type"]
    definition = SCORERS.get(kind)
    if definition is None:
        raise ValueError(f"unknown scorer {kind!r} (known: {', '.join(sorted(SCORERS))})")
    options = {k: v for k, v in raw.items() if k != "type"}
    for name, value in options.items():
        wanted = definition.options.get(name)
        if wanted is None:
            raise ValueError(f"scorer {kind!r} has no option {name!r}")
        if (isinstance(value, bool) and wanted is not bool) or not isinstance(value, wanted):
            raise ValueError(f"scorer {kind!r} option {name!r} has the wrong type")
        allowed = definition.enums.get(name)
        if allowed and value not in allowed:
            raise ValueError(f"scorer {kind!r} option {name!r} must be one of {', '.join(allowed)}")
    return ScorerSpec(kind, options)


def check_expected(spec: ScorerSpec, expected: Any) -> None:
    """Raise ValueError when `expected` cannot be scored by `spec`."""
    SCORERS[spec.type].check(expected, spec.options)


def apply(spec: ScorerSpec, output: str, expected: Any) -> Score:
    """Score `output` with a deterministic scorer (not the judge)."""
    func = SCORERS[spec.type].func
    if func is None:
        raise ValueError(f"scorer {spec.type!r} needs a model; use evals.judge")
    return func(output, expected, **spec.options)
