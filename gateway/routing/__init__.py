"""Routing across a fleet of vLLM replicas: which replica serves a request, and what happens when one fails.

- config.py    `llm.upstreams` / `llm.fallbacks` / `llm.routing` and their start-up checks
- health.py    per-replica health: passive ejection, re-admission with backoff (a pure state machine)
- load.py      reading vLLM's own load gauges from a replica's `/metrics`
- balancer.py  the pure scoring core: least outstanding, weighted, engine-informed; session affinity
- retry.py     which failures may be retried on another replica, and when not
- router.py    the replicas of one gateway, their clients, the health and scrape loops, the choice
- attempts.py  the upstream-call stage: try replicas (then fallback models) until one answers
- telemetry.py the router's gauges, read at scrape time
"""
