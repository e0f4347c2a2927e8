"""The fleet's configuration: `llm.upstreams`, `llm.fallbacks` and `llm.routing`, and their checks.

    llm:
      upstreams:
        - {name: llama-a, url: http://10.0.0.1:8000/v1, models: [llama-3-8b]}
        - {name: llama-b, url: http://10.0.0.2:8000/v1, models: [llama-3-8b]}
        - {name: qwen-a,  url: http://10.0.0.3:8000/v1, models: [qwen-2.5-7b], weight: 2}
      fallbacks: {llama-3-8b: [qwen-2.5-7b]}

`llm.upstream_url` keeps working: it is a fleet of one replica named `default` (see `fleet_specs`).
`fleet_problems` returns one line per mistake, each naming its field, so a config with three mistakes
says all three at start-up instead of one per restart.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DEFAULT_UPSTREAM",
    "ReplicaSpec",
    "RoutingSettings",
    "UpstreamSettings",
    "fleet_problems",
    "fleet_specs",
]

_STRICT = ConfigDict(extra="forbid")
DEFAULT_UPSTREAM = "default"  # the replica name `llm.upstream_url` becomes
_URL = re.compile(r"^https?://[^/\s]+")


class UpstreamSettings(BaseModel):
    model_config = _STRICT
    name: str = Field(
        ...,
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$",
        description="Replica name: lower-case letters, digits, '-', '_', '.'. The `upstream` metric label.",
    )
    url: str = Field(
        ..., description="Base URL of this vLLM server's OpenAI API, e.g. http://10.0.0.1:8000/v1."
    )
    models: list[str] = Field(..., description="Models this replica serves (vLLM's served model names).")
    weight: float = Field(
        1.0, gt=0, le=1000, description="Relative capacity: a weight-2 replica takes about twice the load."
    )


class RoutingSettings(BaseModel):
    model_config = _STRICT
    retries: int = Field(
        2,
        ge=0,
        le=10,
        description="Further replicas tried when one fails before any byte reached the client.",
    )
    affinity: Literal["none", "user", "session_id"] = Field(
        "none",
        description="Session affinity key for prefix-cache reuse: the request's `user`, or "
        "`metadata.session_id`; none = balance every request.",
    )
    affinity_max_load_ratio: float = Field(
        4.0,
        ge=1,
        description="An affinity replica whose load score exceeds the best replica's by this factor "
        "(or whose engine queues requests) is passed over for the balancer's choice.",
    )
    health_interval_s: float = Field(
        5.0, gt=0, description="How often each healthy replica's /health is checked."
    )
    health_timeout_s: float = Field(2.0, gt=0, description="Time allowed for one /health answer.")
    eject_after_failures: int = Field(
        3, ge=1, description="Consecutive connect failures or 5xx answers that eject a replica."
    )
    eject_base_s: float = Field(
        2.0, gt=0, description="First ejection lasts this long; each ejection in a row doubles it."
    )
    eject_max_s: float = Field(60.0, gt=0, description="Longest an ejection lasts before the next probe.")
    load_scrape_interval_s: float = Field(
        2.0,
        gt=0,
        description="How often each replica's /metrics is read for vLLM's queue and KV-cache gauges.",
    )
    load_scrape: bool = Field(
        True, description="Read engine load from /metrics; off = balance on this gateway's own counts."
    )


@dataclass(frozen=True)
class ReplicaSpec:
    """One replica as the router sees it. `models` None = it serves whatever it is asked for."""

    name: str
    url: str
    models: frozenset[str] | None
    weight: float

    def serves(self, model: str) -> bool:
        return self.models is None or model in self.models


def fleet_specs(
    upstream_url: str | None, upstreams: Sequence[UpstreamSettings], models: Sequence[str]
) -> list[ReplicaSpec]:
    """The replicas to route over; `upstream_url` alone is one replica serving `models` (any if empty)."""
    if upstreams:
        return [ReplicaSpec(u.name, u.url.rstrip("/"), frozenset(u.models), u.weight) for u in upstreams]
    if upstream_url:
        return [ReplicaSpec(DEFAULT_UPSTREAM, upstream_url.rstrip("/"), frozenset(models) or None, 1.0)]
    return []


def fleet_problems(
    upstream_url: str | None,
    upstreams: Sequence[UpstreamSettings],
    fallbacks: dict[str, list[str]],
    routing: RoutingSettings,
) -> list[str]:
    """Every mistake in the fleet config, one line each, each starting with the field it is about."""
    out: list[str] = []
    if upstream_url and upstreams:
        out.append("llm.upstreams: set either llm.upstream_url (one server) or llm.upstreams, not both")
    if upstream_url and not _URL.match(upstream_url):
        out.append("llm.upstream_url: must start with http:// or https://")
    seen_names: set[str] = set()
    seen_urls: dict[str, str] = {}
    served: set[str] = set()
    for i, u in enumerate(upstreams):
        where = f"llm.upstreams[{i}] ({u.name})"
        if u.name in seen_names:
            out.append(f"{where}.name: duplicate replica name {u.name!r}")
        seen_names.add(u.name)
        if not _URL.match(u.url):
            out.append(f"{where}.url: must start with http:// or https://")
        url = u.url.rstrip("/")
        if url in seen_urls:
            out.append(f"{where}.url: same server as {seen_urls[url]!r}; list each server once")
        seen_urls.setdefault(url, u.name)
        if not u.models:
            out.append(f"{where}.models: list at least one model this replica serves")
        if any(not m for m in u.models):
            out.append(f"{where}.models: a model name must not be empty")
        served.update(u.models)
    if fallbacks and not upstreams:
        out.append("llm.fallbacks: needs llm.upstreams (a fallback model must have replicas of its own)")
    elif fallbacks:
        for model, chain in fallbacks.items():
            if model not in served:
                out.append(f"llm.fallbacks.{model}: no replica in llm.upstreams serves {model!r}")
            for fb in chain:
                if fb == model:
                    out.append(f"llm.fallbacks.{model}: a model cannot be its own fallback")
                elif fb not in served:
                    out.append(f"llm.fallbacks.{model}: fallback {fb!r} is served by no replica")
    if routing.eject_max_s < routing.eject_base_s:
        out.append("llm.routing.eject_max_s: must be at least llm.routing.eject_base_s")
    return out
