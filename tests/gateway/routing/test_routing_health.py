"""Replica health: passive ejection, active probes, re-admission with a doubling backoff."""

from __future__ import annotations

from gateway.routing.health import ReplicaHealth


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_consecutive_failures_eject_and_a_success_resets_the_count() -> None:
    clock = Clock()
    h = ReplicaHealth(eject_after=3, base_s=2, max_s=60, clock=clock)
    assert not h.failure() and not h.failure()
    h.success()
    assert not h.failure() and not h.failure() and h.healthy
    assert h.failure() and not h.healthy
    assert h.ejected_until == 102.0


def test_readmitted_only_by_a_good_probe_after_the_backoff_which_doubles_each_time() -> None:
    clock = Clock()
    h = ReplicaHealth(eject_after=1, base_s=2, max_s=5, clock=clock)
    h.failure()
    assert not h.probe_due()
    h.probe_result(True)  # too early: a good probe does not cut the backoff short
    assert not h.healthy
    clock.now = 102.0
    assert h.probe_due()
    h.probe_result(False)  # still down: 4 s this time
    assert not h.healthy and h.ejected_until == 106.0
    clock.now = 106.0
    h.probe_result(False)  # 8 s, capped at 5
    assert h.ejected_until == 111.0
    clock.now = 111.0
    h.probe_result(True)
    assert h.healthy and h.consecutive_failures == 0
    # Ejected again soon after: the streak goes on (max 5 s)...
    h.failure()
    assert h.ejected_until == 116.0
    clock.now = 116.0
    h.probe_result(True)
    # ...until the replica has stayed healthy for max_s.
    clock.now = 122.0
    h.success()
    h.failure()
    assert h.ejected_until == 124.0


def test_a_failed_probe_ejects_a_healthy_replica_at_once() -> None:
    h = ReplicaHealth(eject_after=3, base_s=1, max_s=10, clock=Clock())
    h.probe_result(False)
    assert not h.healthy and h.ejections == 1 and h.last_reason == "health check"
