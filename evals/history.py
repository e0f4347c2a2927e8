"""The run history: an embedded SQLite file with every run, every item result, and the response cache.

Default `<data_dir>/evals/history.sqlite` (config `evals.history_path`). WAL mode and a busy timeout let a
scheduled run and a person's `modelgate eval history` share the file.

    with HistoryStore.open(path) as store:
        store.record_run(record, results)
        baseline = store.trailing_runs("run", "core", "my-model", k=3, before=record.started_at)
        store.items(baseline[0].run_id)
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

from evals.records import ItemResult, RunRecord
from evals.scorers import Outcome

__all__ = ["CachedResponse", "HistoryStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, kind TEXT NOT NULL, suite TEXT NOT NULL, model TEXT NOT NULL,
    started_at REAL NOT NULL, finished_at REAL NOT NULL, status TEXT NOT NULL,
    n_items INTEGER, n_pass INTEGER, n_fail INTEGER, n_error INTEGER, n_skipped INTEGER,
    score REAL, pass_rate REAL, input_tokens INTEGER, output_tokens INTEGER, cost_usd REAL,
    latency_p50_s REAL, latency_p95_s REAL, verdict TEXT, suite_digest TEXT, summary_json TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_suite ON runs (kind, suite, model, started_at);
CREATE TABLE IF NOT EXISTS items (
    run_id TEXT NOT NULL REFERENCES runs (run_id), item_key TEXT NOT NULL, item_id TEXT NOT NULL,
    outcome TEXT NOT NULL, score REAL, output TEXT, expected_json TEXT, detail TEXT, latency_s REAL,
    input_tokens INTEGER, output_tokens INTEGER, cost_usd REAL, attempts INTEGER, cached INTEGER,
    tags_json TEXT, PRIMARY KEY (run_id, item_key)
);
CREATE TABLE IF NOT EXISTS response_cache (
    key TEXT PRIMARY KEY, output TEXT NOT NULL, input_tokens INTEGER, output_tokens INTEGER, created_at REAL
);
"""

_RUN_COLUMNS = [
    "run_id", "kind", "suite", "model", "started_at", "finished_at", "status", "n_items", "n_pass", "n_fail",
    "n_error", "n_skipped", "score", "pass_rate", "input_tokens", "output_tokens", "cost_usd",
    "latency_p50_s", "latency_p95_s", "verdict", "suite_digest",
]  # fmt: skip


class CachedResponse(NamedTuple):
    """A cached model response."""

    output: str
    input_tokens: int
    output_tokens: int


class HistoryStore:
    """Runs, item results and cached responses in one SQLite file."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @classmethod
    def open(cls, path: Path) -> HistoryStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)
        return cls(conn)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- runs ---------------------------------------------------------------------------------------

    def record_run(self, record: RunRecord, results: list[ItemResult]) -> None:
        """Store a finished run and its item results in one transaction."""
        values = [getattr(record, c) for c in _RUN_COLUMNS]
        with self._conn:
            self._conn.execute(
                f"INSERT INTO runs ({', '.join(_RUN_COLUMNS)}, summary_json) "
                f"VALUES ({', '.join('?' * (len(_RUN_COLUMNS) + 1))})",
                [*values, json.dumps(record.summary, default=str)],
            )
            self._conn.executemany(
                "INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        record.run_id, r.key, r.item_id, r.outcome.value, r.score, r.output,
                        json.dumps(r.expected), r.detail, r.latency_s, r.input_tokens, r.output_tokens,
                        r.cost_usd, r.attempts, int(r.cached), json.dumps(list(r.tags)),
                    )
                    for r in results
                ],
            )  # fmt: skip

    def set_verdict(self, run_id: str, verdict: str, summary: dict[str, Any]) -> None:
        with self._conn:
            self._conn.execute(
                "UPDATE runs SET verdict = ?, summary_json = ? WHERE run_id = ?",
                (verdict, json.dumps(summary, default=str), run_id),
            )

    def trailing_runs(self, kind: str, suite: str, model: str, *, k: int, before: float) -> list[RunRecord]:
        """The last `k` complete runs of this suite and model that started before `before`, newest first."""
        rows = self._conn.execute(
            "SELECT * FROM runs WHERE kind = ? AND suite = ? AND model = ? AND status = 'complete' "
            "AND started_at < ? ORDER BY started_at DESC LIMIT ?",
            (kind, suite, model, before, k),
        ).fetchall()
        return [_run(row) for row in rows]

    def list_runs(
        self, *, kind: str | None = None, suite: str | None = None, model: str | None = None, limit: int = 20
    ) -> list[RunRecord]:
        """The newest runs first, optionally filtered."""
        where, args = [], []
        for column, value in (("kind", kind), ("suite", suite), ("model", model)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._conn.execute(
            f"SELECT * FROM runs {clause} ORDER BY started_at DESC LIMIT ?", [*args, limit]
        ).fetchall()
        return [_run(row) for row in rows]

    def items(self, run_id: str) -> list[ItemResult]:
        rows = self._conn.execute("SELECT * FROM items WHERE run_id = ? ORDER BY rowid", (run_id,)).fetchall()
        return [
            ItemResult(
                item_id=row["item_id"],
                key=row["item_key"],
                outcome=Outcome(row["outcome"]),
                score=row["score"],
                output=row["output"] or "",
                expected=json.loads(row["expected_json"]),
                detail=row["detail"] or "",
                latency_s=row["latency_s"] or 0.0,
                input_tokens=row["input_tokens"] or 0,
                output_tokens=row["output_tokens"] or 0,
                cost_usd=row["cost_usd"],
                attempts=row["attempts"] or 0,
                cached=bool(row["cached"]),
                tags=tuple(json.loads(row["tags_json"] or "[]")),
            )
            for row in rows
        ]

    # --- response cache -----------------------------------------------------------------------------

    def cache_get(self, key: str) -> CachedResponse | None:
        row = self._conn.execute(
            "SELECT output, input_tokens, output_tokens FROM response_cache WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else CachedResponse(row[0], row[1] or 0, row[2] or 0)

    def cache_put(self, key: str, output: str, input_tokens: int, output_tokens: int) -> None:
        with self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO response_cache VALUES (?, ?, ?, ?, ?)",
                (key, output, input_tokens, output_tokens, time.time()),
            )


def _run(row: sqlite3.Row) -> RunRecord:
    fields = {c: row[c] for c in _RUN_COLUMNS}
    fields["verdict"] = fields["verdict"] or ""
    fields["suite_digest"] = fields["suite_digest"] or ""
    return RunRecord(**fields, summary=json.loads(row["summary_json"] or "{}"))
