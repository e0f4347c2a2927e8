"""The balancer's pure core: score each healthy replica, take the least loaded; optional session affinity.

Score (lower is better) = (outstanding + waiting + 1) × (1 + kv_cache_usage) / weight, where
- `outstanding` is the larger of this gateway's own in-flight count to the replica (exact, live) and the
  engine's running + waiting (seen every few seconds, but it also counts other gateways' traffic);
- `waiting` counts queued requests a second time: a queued request waits for a whole slot to free up;
- the KV-cache share raises the score as the engine nears preemption;
- `weight` scales it, so a weight-2 replica takes about twice the requests at equal load.
Ties are broken at random so equal replicas split evenly.

Affinity (weighted rendezvous hashing, stable when replicas come and go) sends one session to one replica
for vLLM's prefix cache, unless that replica is overloaded — its engine queues requests, its KV cache is
nearly full, or its score is `max_load_ratio` × the best — then the balancer's choice wins.

    best = choose(healthy_replicas, affinity_key=None, rng=random.Random(), max_load_ratio=4.0)
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from typing import Protocol, TypeVar

from gateway.routing.load import EngineLoad

__all__ = ["Scored", "affinity_choice", "choose", "is_overloaded", "least_loaded", "load_score"]

_KV_NEARLY_FULL = 0.95


class Scored(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def weight(self) -> float: ...
    @property
    def in_flight(self) -> int: ...
    @property
    def load(self) -> EngineLoad | None: ...


S = TypeVar("S", bound=Scored)


def load_score(replica: Scored) -> float:
    load = replica.load
    if load is None:
        return (replica.in_flight + 1) / replica.weight
    outstanding = max(float(replica.in_flight), load.running + load.waiting)
    return (outstanding + load.waiting + 1) * (1 + load.kv_cache_usage) / replica.weight


def least_loaded(replicas: Sequence[S], rng: random.Random) -> S:
    if len(replicas) == 1:
        return replicas[0]
    best: list[S] = []
    best_score = math.inf
    for r in replicas:
        score = load_score(r)
        if score < best_score:
            best, best_score = [r], score
        elif score == best_score:
            best.append(r)
    return best[0] if len(best) == 1 else rng.choice(best)


def _unit_hash(key: str, name: str) -> float:
    digest = hashlib.blake2b(f"{key}\x00{name}".encode(), digest_size=8).digest()
    # (0, 1): never 0 or 1, so the log below is finite and negative.
    return (int.from_bytes(digest, "big") + 0.5) / 2**64


def affinity_choice(replicas: Sequence[S], key: str) -> S:
    """Weighted rendezvous hashing: each replica draws -weight / ln(u); the highest draw owns the key."""
    return max(replicas, key=lambda r: -r.weight / math.log(_unit_hash(key, r.name)))


def is_overloaded(replica: Scored, best_score: float, max_load_ratio: float) -> bool:
    load = replica.load
    if load is not None and (load.waiting > 0 or load.kv_cache_usage >= _KV_NEARLY_FULL):
        return True
    return load_score(replica) > max_load_ratio * best_score


def choose(replicas: Sequence[S], affinity_key: str | None, rng: random.Random, max_load_ratio: float) -> S:
    """The replica for one request, among healthy `replicas` (not empty)."""
    best = least_loaded(replicas, rng)
    if affinity_key is None or len(replicas) == 1:
        return best
    owner = affinity_choice(replicas, affinity_key)
    if owner is best or not is_overloaded(owner, load_score(best), max_load_ratio):
        return owner
    return best
