"""A background Parquet log writer with a bounded queue: the request path never waits on disk.

Rows are dicts matching an Arrow schema. A daemon thread batches them and writes one Parquet file per
partition per flush, every `flush_rows` rows or `flush_seconds`, and on `close()`. When the queue is full
the row is dropped and counted (never queued without bound). Files appear atomically and durably
(`gateway.logcontract.atomic`: fsync, rename, fsync of the folder on local disks; a failed write leaves no
temporary file). Layout and schemas: `gateway.logcontract`, docs/contracts.md.

Why the queue is a deque the thread looks at every `poll_seconds`, not a `queue.Queue`: a `Queue.put`
wakes a waiting writer for every row, and the woken thread then takes the GIL from the event loop, once
per request (measured with strace: a futex wake and a GIL hand-over per request). Here `submit` is one
append; the thread is woken early only when a whole batch (`flush_rows`) waits. For the same reason the
rows become Arrow data a slice at a time: one `Table.from_pylist` of 5,000 rows holds the GIL for ~7.5 ms
in a single call, a slice of `_SLICE_ROWS` for ~0.5 ms, and between slices the loop can take the GIL back.

What a crash loses: rows accepted but not yet flushed, at most `flush_rows` rows or `flush_seconds` of
traffic plus whatever waits in the queue (docs/contracts.md, "Crash safety").

    writer = ParquetLogWriter(uri, CHURN_LOG_SCHEMA, partition_by=churn_partition, on_outcome=count)
    writer.start(); writer.submit(row); …; writer.close()
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from gateway.logcontract.atomic import write_parquet
from gateway.logcontract.layout import part_file_name
from gateway.logcontract.listing import open_log

__all__ = ["ParquetLogWriter"]

log = logging.getLogger(__name__)

# Rows converted to Arrow in one call: ~0.5 ms of GIL held at a time (see the module docstring).
_SLICE_ROWS = 256


class ParquetLogWriter:
    def __init__(
        self,
        uri: str,
        schema: pa.Schema,
        *,
        partition_by: Callable[[dict[str, Any]], str],
        flush_rows: int = 5000,
        flush_seconds: float = 2.0,
        queue_size: int = 100_000,
        poll_seconds: float = 0.05,
        on_outcome: Callable[[str, int], None] = lambda outcome, n: None,
    ) -> None:
        """`partition_by(row)` returns the relative folder, e.g. `date=2026-11-26/model_version=v3`.

        `on_outcome("written"|"dropped", n)` is called from the writer thread or the caller.
        `poll_seconds`: how often the thread takes the rows submitted since it last looked.
        """
        self.filesystem, self.root = open_log(uri)
        self.schema = schema
        self.partition_by = partition_by
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.queue_size = queue_size
        self.poll_seconds = poll_seconds
        self.on_outcome = on_outcome
        # Appended by submit (any thread), emptied by the writer thread: deque's append and popleft are
        # atomic. The bound is checked before the append, so racing submitters can pass it by a row each.
        self._queue: deque[dict[str, Any]] = deque()
        self._wake = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.filesystem.create_dir(self.root, recursive=True)
        self._thread = threading.Thread(target=self._run, name="parquet-log-writer", daemon=True)
        self._thread.start()

    def submit(self, row: dict[str, Any]) -> bool:
        """Queue one row without blocking. False (and counted as dropped) when the queue is full."""
        queued = self._queue
        if len(queued) >= self.queue_size:
            self.on_outcome("dropped", 1)
            return False
        queued.append(row)
        if len(queued) == self.flush_rows:
            self._wake.set()
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued so far, then stop the thread."""
        if self._thread is None:
            return
        self._closing = True
        self._wake.set()
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        buffer: list[dict[str, Any]] = []
        oldest = 0.0
        queued = self._queue
        while True:
            closing = self._closing  # read before draining: every row submitted before close() is taken
            if queued and not buffer:
                oldest = time.monotonic()
            while queued:
                buffer.append(queued.popleft())
            if closing:
                self._flush(buffer)
                return
            while len(buffer) >= self.flush_rows:
                self._flush(buffer[: self.flush_rows])
                del buffer[: self.flush_rows]
                oldest = time.monotonic()
            if buffer and time.monotonic() - oldest >= self.flush_seconds:
                self._flush(buffer)
                buffer = []
            wait = self.poll_seconds
            if buffer:
                wait = min(wait, max(oldest + self.flush_seconds - time.monotonic(), 0.0))
            self._wake.wait(wait)
            self._wake.clear()

    def _flush(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            groups[self.partition_by(row)].append(row)
        for folder, group in groups.items():
            try:
                self._write(folder, group)
            except Exception:
                # Never lose silently: a failed write is counted as dropped and logged with its cause.
                log.exception("could not write %d log rows to %s", len(group), folder)
                self.on_outcome("dropped", len(group))
            else:
                self.on_outcome("written", len(group))

    def _write(self, folder: str, rows: list[dict[str, Any]]) -> None:
        batches = [
            pa.RecordBatch.from_pylist(rows[i : i + _SLICE_ROWS], schema=self.schema)
            for i in range(0, len(rows), _SLICE_ROWS)
        ]
        table = pa.Table.from_batches(batches, schema=self.schema)
        write_parquet(self.filesystem, f"{self.root.rstrip('/')}/{folder}", part_file_name(), table)
