"""The balancer's pure core: scores, least-loaded choice, weights, engine load, affinity."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from gateway.routing.balancer import affinity_choice, choose, is_overloaded, least_loaded, load_score
from gateway.routing.load import EngineLoad


@dataclass
class R:
    name: str
    weight: float = 1.0
    in_flight: int = 0
    load: EngineLoad | None = None


def test_least_outstanding_wins_and_weights_scale_the_score() -> None:
    rng = random.Random(1)
    a, b = R("a", in_flight=3), R("b", in_flight=1)
    assert least_loaded([a, b], rng) is b
    # A weight-4 replica with 3 outstanding scores (3+1)/4 = 1, below (1+1)/1 = 2.
    heavy = R("heavy", weight=4.0, in_flight=3)
    assert load_score(heavy) == 1.0 and least_loaded([heavy, b], rng) is heavy


def test_engine_load_counts_traffic_this_gateway_does_not_see() -> None:
    rng = random.Random(1)
    # Same in-flight count here, but another gateway keeps b's engine busy and queueing.
    a = R("a", in_flight=2, load=EngineLoad(running=2, waiting=0, kv_cache_usage=0.1))
    b = R("b", in_flight=2, load=EngineLoad(running=10, waiting=4, kv_cache_usage=0.1))
    assert least_loaded([a, b], rng) is a
    # A fuller KV cache raises the score at equal request counts.
    c = R("c", load=EngineLoad(running=2, waiting=0, kv_cache_usage=0.9))
    assert load_score(c) > load_score(a)


def test_equal_replicas_split_evenly_through_random_tie_breaks() -> None:
    rng = random.Random(7)
    replicas = [R("a"), R("b"), R("c")]
    picks = Counter(least_loaded(replicas, rng).name for _ in range(3000))
    assert all(900 < n < 1100 for n in picks.values()), picks


def test_weighted_least_outstanding_sends_twice_the_load_to_a_weight_two_replica() -> None:
    rng = random.Random(3)
    a, b = R("a", weight=2.0), R("b")
    # Steady state of a closed loop: each pick takes a slot, and slots are released oldest first.
    picks: Counter[str] = Counter()
    open_: list[R] = []
    for _ in range(3000):
        r = least_loaded([a, b], rng)
        r.in_flight += 1
        open_.append(r)
        picks[r.name] += 1
        if len(open_) > 12:
            open_.pop(0).in_flight -= 1
    assert 1.7 < picks["a"] / picks["b"] < 2.3, picks


def test_affinity_is_stable_and_spreads_keys() -> None:
    replicas = [R("a"), R("b"), R("c")]
    owners = Counter(affinity_choice(replicas, f"session-{i}").name for i in range(900))
    assert all(220 < n < 380 for n in owners.values()), owners
    # Removing a replica moves only the keys it owned (rendezvous hashing).
    before = {f"s{i}": affinity_choice(replicas, f"s{i}").name for i in range(300)}
    after = {k: affinity_choice(replicas[:2], k).name for k in before}
    assert all(after[k] == v for k, v in before.items() if v != "c")


def test_affinity_yields_to_the_balancer_when_its_replica_is_overloaded() -> None:
    rng = random.Random(1)
    a, b = R("a"), R("b")
    key = next(f"k{i}" for i in range(100) if affinity_choice([a, b], f"k{i}") is a)
    assert choose([a, b], key, rng, max_load_ratio=4.0) is a
    a.in_flight = 2  # busier, but not overloaded: the session stays for its prefix cache
    assert choose([a, b], key, rng, max_load_ratio=4.0) is a
    a.load = EngineLoad(running=2, waiting=1, kv_cache_usage=0.2)  # its engine queues: move
    assert is_overloaded(a, load_score(b), 4.0)
    assert choose([a, b], key, rng, max_load_ratio=4.0) is b
    a.load, a.in_flight = None, 10  # 11 vs 1: past the ratio
    assert choose([a, b], key, rng, max_load_ratio=4.0) is b
    assert choose([a, b], None, rng, max_load_ratio=4.0) is b
