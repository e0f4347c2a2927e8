"""Request ids: 128 random bits drawn in batches, a fork never repeats its parent's ids, client ids kept
only when short and printable."""

from __future__ import annotations

import os

import pytest

from gateway.random_ids import RandomIds
from gateway.request_id import client_request_id


def test_ids_are_128_bit_hex_and_unique_across_refills(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.urandom

    def counting(n: int) -> bytes:
        calls.append(n)
        return real(n)

    monkeypatch.setattr(os, "urandom", counting)
    new_id = RandomIds(id_bytes=16)
    ids = [new_id() for _ in range(1000)]
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert len(set(ids)) == 1000
    # One 4 KiB read per 256 ids, not a syscall per id.
    assert calls == [4096] * 4


def test_a_forked_child_draws_fresh_randomness(monkeypatch: pytest.MonkeyPatch) -> None:
    new_id = RandomIds(id_bytes=16)
    new_id()
    monkeypatch.setattr(os, "getpid", lambda: -1)  # as after os.fork()
    before = new_id._offset
    new_id()
    assert new_id._offset == 16 and before == 16


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"x-request-id", b"abc-123")], "abc-123"),
        ([(b"x-client-request-id", b"mine"), (b"x-request-id", b"other")], "mine"),
        ([(b"x-request-id", b"has space")], None),
        ([(b"x-request-id", b"\xff\xfe")], None),
        ([(b"x-request-id", b"x" * 129)], None),
        ([], None),
    ],
)
def test_client_request_id(headers: list[tuple[bytes, bytes]], expected: str | None) -> None:
    assert client_request_id({"headers": headers}) == expected
