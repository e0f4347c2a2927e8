"""Eval suites: JSONL files, one item per line, with an optional header line. Format: docs/evals.md.

    {"suite": "core", "description": "...", "scorer": "exact", "params": {"temperature": 0, "max_tokens": 64}}
    {"id": "arith-001", "input": "What is 17 + 25? Reply with the number only.", "expected": 42,
     "scorer": {"type": "numeric"}, "tags": ["arithmetic"]}

The header (first non-blank line, recognised by a `suite` key and no `id`) gives the suite's name, the
default scorer, the default request parameters and the API (`chat`, the default, or `completions`).
Everything is checked when the file loads; the first problem raises `SuiteError` naming the line.

    >>> suite = load_suite(resolve_suite("core", default_suites_dir()))   # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.errors import SuiteError
from evals.scorers import ScorerSpec, check_expected, parse_scorer_spec

__all__ = [
    "EvalItem",
    "Suite",
    "SuiteError",
    "default_suites_dir",
    "load_suite",
    "resolve_suite",
]

HEADER_KEYS = frozenset({"suite", "description", "scorer", "params", "api", "version"})
ITEM_KEYS = frozenset({"id", "input", "expected", "scorer", "tags", "params"})
# Request parameters an item may set; anything else would be silently ignored by the server, so refuse it.
PARAM_KEYS = frozenset(
    {"temperature", "top_p", "max_tokens", "stop", "seed", "presence_penalty", "frequency_penalty"}
)
ROLES = frozenset({"system", "user", "assistant", "developer"})


@dataclass(frozen=True)
class EvalItem:
    id: str
    input: str | list[dict[str, str]]
    expected: Any
    scorer: ScorerSpec
    tags: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    line: int = 0

    @property
    def request_hash(self) -> str:
        """Hash of what is asked (input and parameters): the response cache keys on it."""
        return _digest({"input": self.input, "params": self.params})

    @property
    def item_hash(self) -> str:
        """Hash of what is asked and how it is scored: runs pair an item only when this matches."""
        spec = {"type": self.scorer.type, **self.scorer.options}
        return _digest(
            {"input": self.input, "params": self.params, "expected": self.expected, "scorer": spec}
        )

    @property
    def key(self) -> str:
        return f"{self.id}#{self.item_hash}"


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    items: tuple[EvalItem, ...]
    description: str = ""
    api: str = "chat"

    @property
    def digest(self) -> str:
        return _digest([item.key for item in self.items])


def _digest(value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def default_suites_dir() -> Path:
    """The suites shipped with the package (evals/suites)."""
    return Path(__file__).resolve().parent / "suites"


def resolve_suite(ref: str, suites_dir: Path) -> Path:
    """A suite argument as a path: an existing file, else `<suites_dir>/<ref>.jsonl`."""
    as_path = Path(ref)
    if as_path.is_file():
        return as_path
    named = suites_dir / f"{ref}.jsonl"
    if named.is_file() and "/" not in ref:
        return named
    raise SuiteError(f"suite {ref!r} not found (no such file, and no {named})")


def _check_input(value: Any) -> str | list[dict[str, str]]:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, list) and value:
        for m in value:
            if not (isinstance(m, dict) and m.get("role") in ROLES and isinstance(m.get("content"), str)):
                raise ValueError('input messages must be objects with a known "role" and a string "content"')
        if value[-1]["role"] != "user":
            raise ValueError("the last input message must be from the user")
        return value
    raise ValueError("input must be a non-empty prompt string or a list of chat messages")


def _check_params(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be an object")
    unknown = sorted(set(value) - PARAM_KEYS)
    if unknown:
        raise ValueError(
            f"{where} has unknown parameter {unknown[0]!r} (known: {', '.join(sorted(PARAM_KEYS))})"
        )
    return dict(value)


def _parse_header(obj: dict[str, Any]) -> tuple[str, str, ScorerSpec | None, dict[str, Any], str]:
    unknown = sorted(set(obj) - HEADER_KEYS)
    if unknown:
        raise ValueError(f"header has unknown key {unknown[0]!r}")
    name = obj["suite"]
    if not isinstance(name, str) or not name:
        raise ValueError("header suite must be a non-empty string")
    api = obj.get("api", "chat")
    if api not in ("chat", "completions"):
        raise ValueError('header api must be "chat" or "completions"')
    scorer = parse_scorer_spec(obj["scorer"]) if "scorer" in obj else None
    return (
        name,
        str(obj.get("description", "")),
        scorer,
        _check_params(obj.get("params"), "header params"),
        api,
    )


def _parse_item(obj: dict[str, Any], default_scorer: ScorerSpec | None, params: dict[str, Any]) -> EvalItem:
    unknown = sorted(set(obj) - ITEM_KEYS)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}")
    item_id = obj.get("id")
    if not isinstance(item_id, str) or not item_id or "#" in item_id:
        raise ValueError('"id" must be a non-empty string without "#"')
    if "input" not in obj:
        raise ValueError('missing "input"')
    if "scorer" in obj:
        scorer = parse_scorer_spec(obj["scorer"])
    elif default_scorer is not None:
        scorer = default_scorer
    else:
        raise ValueError('no "scorer" and no default scorer in a header line')
    if "expected" not in obj and scorer.type not in ("json_valid", "judge"):
        raise ValueError('missing "expected"')
    expected = obj.get("expected")
    check_expected(scorer, expected)
    tags = obj.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValueError('"tags" must be a list of strings')
    merged = {**params, **_check_params(obj.get("params"), "params")}
    return EvalItem(item_id, _check_input(obj["input"]), expected, scorer, tuple(tags), merged)


def load_suite(path: Path) -> Suite:
    """Read and check a suite file. Raises SuiteError naming the file and line of the first problem."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"cannot read suite {path}: {exc}") from None
    name, description, api = path.name.removesuffix(".jsonl"), "", "chat"
    scorer: ScorerSpec | None = None
    params: dict[str, Any] = {}
    items: list[EvalItem] = []
    seen: dict[str, int] = {}
    first = True
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise SuiteError(
                f"{path.name} line {number}: not valid JSON ({exc.args[0].split(':')[0]})"
            ) from None
        try:
            if not isinstance(obj, dict):
                raise ValueError("each line must be a JSON object")
            if first and "suite" in obj and "id" not in obj:
                name, description, scorer, params, api = _parse_header(obj)
            else:
                item = _parse_item(obj, scorer, params)
                if api == "completions" and not isinstance(item.input, str):
                    raise ValueError("a suite with api completions needs prompt strings, not chat messages")
                if item.id in seen:
                    raise ValueError(f"duplicate id {item.id!r} (first on line {seen[item.id]})")
                seen[item.id] = number
                items.append(EvalItem(**{**item.__dict__, "line": number}))
        except ValueError as exc:
            raise SuiteError(f"{path.name} line {number}: {exc}") from None
        first = False
    if not items:
        raise SuiteError(f"{path.name}: no items")
    return Suite(name, path, tuple(items), description, api)
