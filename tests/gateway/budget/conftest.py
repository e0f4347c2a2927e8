"""A fixture that opens either spend ledger (SQLite, or the session's real `redis-server` from
tests/conftest.py). Tests isolate themselves with a unique key prefix rather than FLUSHDB."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.budget.factory import create_ledger
from gateway.budget.ledger import SpendLedger

LedgerFactory = Callable[..., SpendLedger]


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.integration)])
def open_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> LedgerFactory:
    """Opens a ledger (through `create_ledger`) on this test's store: every ledger it opens shares the same
    SQLite file or Redis key prefix. Call it inside the running event loop: a Redis client binds to the
    loop that first uses it.
    """
    backend = request.param
    path = tmp_path / "budget.sqlite3"
    url = request.getfixturevalue("redis_server").url if backend == "redis" else None
    prefix = f"test-{uuid.uuid4().hex[:12]}:"

    def open_(reservation_ttl_s: float = 600) -> SpendLedger:
        return create_ledger(
            backend,
            sqlite_path=path,
            redis_url=url,
            reservation_ttl_s=reservation_ttl_s,
            redis_key_prefix=prefix,
        )

    return open_
