"""Metric names used by PromQL expressions, and the metric catalogue in docs/metrics.md.

The dashboard and rule tests use these to check that every expression names only documented metrics:

    metric_names('sum by (le) (rate(modelgate_request_duration_seconds_bucket{backend="churn"}[5m]))')
    # -> {"modelgate_request_duration_seconds_bucket"}
    documented = documented_metrics(Path("docs/metrics.md"))   # name -> type
    undocumented(names, documented)                             # names neither listed nor a histogram series

This is a tokenizer, not a PromQL parser: strings, label matchers, ranges and label lists are removed, and
what remains that looks like an identifier and is not a function call or a keyword is a metric name.
Whether an expression parses at all is promtool's job (the tests run `promtool check rules` on them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["HISTOGRAM_SUFFIXES", "documented_metrics", "metric_names", "undocumented"]

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

_KEYWORDS = frozenset(
    {
        # binary and set operators, modifiers
        "and", "or", "unless", "atan2", "bool", "offset", "by", "without", "on", "ignoring",
        "group_left", "group_right", "inf", "nan",
        # aggregation operators (may be followed by `by (...)` rather than a parenthesis)
        "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
        "bottomk", "topk", "quantile",
    }
)  # fmt: skip

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_COMMENT = re.compile(r"#[^\n]*")
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
# An identifier not glued to a preceding word character, digit, colon or dot (so `1d` and `1e3` are not
# names), and whether a call parenthesis follows it.
_IDENTIFIER = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)(\s*\()?")
_TABLE_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*([^|]+?)\s*\|")


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (functions, keywords and label names excluded)."""
    text = _STRING.sub('""', expr)
    text = _COMMENT.sub("", text)
    text = _GRAFANA_VARIABLE.sub("1", text)
    text = _MATCHERS.sub("", text)
    text = _RANGE.sub("", text)
    text = _LABEL_LIST.sub("", text)
    names: set[str] = set()
    for match in _IDENTIFIER.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names


def documented_metrics(metrics_md: Path) -> dict[str, str]:
    """Every metric in docs/metrics.md's tables: first column `name`, second column its type."""
    found: dict[str, str] = {}
    for line in metrics_md.read_text(encoding="utf-8").splitlines():
        match = _TABLE_ROW.match(line.strip())
        if match:
            found[match.group(1)] = match.group(2).strip().lower()
    return found


def undocumented(names: Iterable[str], documented: Mapping[str, str]) -> set[str]:
    """Names that are neither documented nor a `_bucket`/`_sum`/`_count` series of a documented histogram."""
    missing: set[str] = set()
    for name in names:
        if name in documented:
            continue
        base = next((name[: -len(s)] for s in HISTOGRAM_SUFFIXES if name.endswith(s)), None)
        if base is not None and documented.get(base) == "histogram":
            continue
        missing.add(name)
    return missing
