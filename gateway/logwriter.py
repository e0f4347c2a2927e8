"""A background Parquet log writer with a bounded queue: the request path never waits on disk.

Rows are dicts matching an Arrow schema. A daemon thread batches them and writes one Parquet file per
partition per flush, every `flush_rows` rows or `flush_seconds`, and on `close()`. When the queue is full
the row is dropped and counted (never queued without bound). Files appear atomically and durably
(`gateway.logcontract.atomic`: fsync, rename, fsync of the folder on local disks; a failed write leaves no
temporary file). Layout and schemas: `gateway.logcontract`, docs/contracts.md.

What a crash loses: rows accepted but not yet flushed, at most `flush_rows` rows or `flush_seconds` of
traffic plus whatever waits in the queue (docs/contracts.md, "Crash safety").

    writer = ParquetLogWriter(uri, CHURN_LOG_SCHEMA, partition_by=churn_partition, on_outcome=count)
    writer.start(); writer.submit(row); …; writer.close()
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from gateway.logcontract.atomic import write_parquet
from gateway.logcontract.layout import part_file_name
from gateway.logcontract.listing import open_log

__all__ = ["ParquetLogWriter"]

log = logging.getLogger(__name__)

_STOP = object()


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
        on_outcome: Callable[[str, int], None] = lambda outcome, n: None,
    ) -> None:
        """`partition_by(row)` returns the relative folder, e.g. `date=2026-11-26/model_version=v3`.

        `on_outcome("written"|"dropped", n)` is called from the writer thread or the caller.
        """
        self.filesystem, self.root = open_log(uri)
        self.schema = schema
        self.partition_by = partition_by
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.on_outcome = on_outcome
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.filesystem.create_dir(self.root, recursive=True)
        self._thread = threading.Thread(target=self._run, name="parquet-log-writer", daemon=True)
        self._thread.start()

    def submit(self, row: dict[str, Any]) -> bool:
        """Queue one row without blocking. False (and counted as dropped) when the queue is full."""
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            self.on_outcome("dropped", 1)
            return False
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued so far, then stop the thread."""
        if self._thread is None:
            return
        self._queue.put(_STOP)  # blocks only while the queue is full, and the thread is draining it
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        buffer: list[dict[str, Any]] = []
        oldest = 0.0
        while True:
            wait = self.flush_seconds - (time.monotonic() - oldest) if buffer else None
            try:
                item = self._queue.get(timeout=max(wait, 0.0) if wait is not None else None)
            except queue.Empty:
                item = None
            if item is _STOP:
                self._flush(buffer)
                return
            if item is not None:
                if not buffer:
                    oldest = time.monotonic()
                buffer.append(item)  # type: ignore[arg-type]
            if buffer and (len(buffer) >= self.flush_rows or time.monotonic() - oldest >= self.flush_seconds):
                self._flush(buffer)
                buffer = []

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
        table = pa.Table.from_pylist(rows, schema=self.schema)
        write_parquet(self.filesystem, f"{self.root.rstrip('/')}/{folder}", part_file_name(), table)
