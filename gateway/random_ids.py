"""Random hex ids for the hot path, drawn from `os.urandom` in batches.

`os.urandom` releases the GIL for its syscall, and on a busy gateway winning it back means waiting for
another thread (the ledger's, the log writer's) to give it up: measured under load, the ledger's
per-request `os.urandom(12)` was ~7 % of the event loop's samples. One 4 KiB draw serves hundreds of ids.

    new_id = RandomIds(id_bytes=16)
    new_id()     # '3f0c…' (32 hex characters)
"""

from __future__ import annotations

import os

__all__ = ["RandomIds"]


class RandomIds:
    """Random ids from a buffer of `os.urandom` refilled 4 KiB at a time.

    Not shared across a fork by accident: the buffer is per instance, and the app (one per worker
    process) builds its own. Single-threaded use (the event loop) needs no lock.
    """

    def __init__(self, *, id_bytes: int, batch_bytes: int = 4096) -> None:
        if batch_bytes < id_bytes:
            raise ValueError("batch_bytes must hold at least one id")
        self._id_bytes = id_bytes
        self._batch_bytes = batch_bytes - batch_bytes % id_bytes
        self._buffer = b""
        self._offset = 0
        self._pid = os.getpid()

    def __call__(self) -> str:
        if self._offset >= len(self._buffer) or os.getpid() != self._pid:
            # Refill, and after a fork never hand out the parent's remaining bytes a second time.
            self._buffer = os.urandom(self._batch_bytes)
            self._offset = 0
            self._pid = os.getpid()
        start = self._offset
        self._offset = start + self._id_bytes
        return self._buffer[start : self._offset].hex()
