"""Draw a seeded sample of the LLM request log (docs/contracts.md, "LLM request log") for judging.

The log and its reader are the log contract's (`gateway.logcontract`: `LLM_LOG`, `read_rows`). The window is
`[end - days, end)` in UTC: only its `date=` folders are listed, rows are counted from row-group statistics
and `ts` is filtered inside the scan; unreadable files are skipped and named in `SampleDraw.skipped_files`.
Only successful requests (status 200) are candidates, optionally minus some tenants (the eval jobs' own
traffic).

A row is drawn when a hash of (seed, request_id) falls below `rate`: the same log and seed always give the
same rows, whatever the file layout or row order, and a bigger rate draws a superset. Selection reads only
`request_id` and `model`; the content columns are read for the drawn rows alone. Rows whose
`input_messages` or `output_text` is null (the operator has not opted into `llm.log_content`) are
counted as skipped.

    drawn = draw_sample(cfg.shared.llm_log_uri, days=1, rate=0.01, seed=0, max_items=200)
    drawn.rows["my-model"][0].output_text, drawn.skipped, drawn.candidates
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.dataset as ds

from evals.errors import LogSampleError
from gateway.logcontract.schemas import LLM_LOG
from gateway.logcontract.window import LogReadError, read_rows

__all__ = ["LogSampleError", "SampleDraw", "SampleRow", "draw_sample", "drawn", "parse_prompt"]


@dataclass(frozen=True)
class SampleRow:
    request_id: str
    model: str
    ts: datetime
    tenant: str
    input_messages: str
    output_text: str


@dataclass
class SampleDraw:
    rows: dict[str, list[SampleRow]] = field(default_factory=dict)  # by model, content present
    skipped: dict[str, int] = field(default_factory=dict)  # by model: drawn, but no content logged
    candidates: int = 0  # status-200 rows in the window
    capped: dict[str, int] = field(default_factory=dict)  # by model: drawn but over max_items
    skipped_files: tuple[str, ...] = ()  # unreadable log files left out (truncated by a crash, …)


def drawn(request_id: str, seed: int, rate: float) -> bool:
    """Whether this request is in the sample: a uniform hash of (seed, id) below `rate`."""
    return _hash01(request_id, seed) < rate


def _hash01(request_id: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{request_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def parse_prompt(input_messages: str) -> str | list[dict[str, Any]]:
    """The logged prompt as the judge reads it: a chat (list of messages) or a prompt string."""
    try:
        value = json.loads(input_messages)
    except ValueError:
        return input_messages
    if isinstance(value, list) and all(isinstance(m, dict) for m in value):
        return value
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        return list(value["messages"])
    return value if isinstance(value, str) else input_messages


def draw_sample(
    uri: str,
    *,
    days: int,
    rate: float,
    seed: int,
    max_items: int,
    end: datetime | None = None,
    exclude_tenants: tuple[str, ...] = (),
    model: str | None = None,
) -> SampleDraw:
    """The drawn rows of the window, by model; at most `max_items` per model (lowest hashes first)."""
    end = end or datetime.now(UTC)
    start = end - timedelta(days=days)
    if "://" not in uri and not Path(uri).is_dir():
        raise LogSampleError(f"no LLM request log at {uri} (is the gateway writing llm.log_uri?)")
    where = ds.field("status") == 200
    where_columns = ["status"]
    if exclude_tenants:
        where = where & ~ds.field("tenant").isin(list(exclude_tenants))
        where_columns.append("tenant")
    models = None if model is None else [model]

    def read(columns: list[str], extra: ds.Expression | None = None, extra_cols: tuple[str, ...] = ()) -> Any:
        try:
            return read_rows(
                uri,
                LLM_LOG,
                start,
                end,
                columns=columns,
                where=where if extra is None else where & extra,
                where_columns=[*where_columns, *extra_cols],
                values=models,
            )
        except LogReadError as exc:
            raise LogSampleError(f"cannot read the LLM request log at {uri}: {exc}") from None

    first = read(["request_id", "model"])
    ids = first.table
    result = SampleDraw(candidates=ids.num_rows, skipped_files=first.skipped_files)
    picked: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for request_id, row_model in zip(ids["request_id"].to_pylist(), ids["model"].to_pylist(), strict=True):
        h = _hash01(request_id, seed)
        if h < rate:
            picked[row_model].append((h, request_id))
    chosen: list[str] = []
    for row_model, hashed in picked.items():
        hashed.sort()
        chosen += [rid for _, rid in hashed[:max_items]]
        result.capped[row_model] = max(0, len(hashed) - max_items)
    if not chosen:
        return result
    columns = ["request_id", "model", "ts", "tenant", "input_messages", "output_text"]
    table = read(columns, ds.field("request_id").isin(chosen), ("request_id",)).table
    has_content = pc.and_(pc.is_valid(table["input_messages"]), pc.is_valid(table["output_text"]))
    for row, ok in zip(table.to_pylist(), has_content.to_pylist(), strict=True):
        if ok:
            result.rows.setdefault(row["model"], []).append(SampleRow(**row))
        else:
            result.skipped[row["model"]] = result.skipped.get(row["model"], 0) + 1
    for rows in result.rows.values():
        rows.sort(key=lambda r: (r.ts, r.request_id))
    return result
