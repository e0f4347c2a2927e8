"""A month of the gateway's request, latency, TTFT and upstream series, with the ops faults injected.

One sample a minute per series. Mid-stream failures follow the gateway's recording: a stream that fails
after its 200 header is counted in `modelgate_requests_total` with its real outcome (status 502), so the
error-ratio rules see it, and in `modelgate_llm_stream_failures_total{model, kind}`.

    store = ops_series(days=30, seed=1, faults=ops_faults(30))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from monitoring.scorecard.faults import Fault
from monitoring.scorecard.series import (
    LATENCY_BUCKETS,
    TTFT_BUCKETS,
    SeriesStore,
    calm_traffic,
    lognormal_bucket_counts,
)

__all__ = ["CALM", "ops_series"]

MODEL = "sim-llama-3-8b"
TENANTS = ("acme", "globex", "initech")
TENANT_SHARE = (0.6, 0.3, 0.1)
CHURN = {"backend": "churn", "route": "/v1/churn/predict", "method": "POST"}
LLM = {"backend": "llm", "route": "/v1/chat/completions", "method": "POST"}
# Calm behaviour: background 5xx ratios, latency medians (s) and lognormal spreads.
CALM = {
    "churn_error_ratio": 0.0005,
    "llm_error_ratio": 0.002,
    "churn_median": 0.002,
    "churn_sigma": 0.6,
    "llm_median": 4.0,
    "llm_sigma": 0.5,
    "ttft_median": 0.25,
    "ttft_sigma": 0.6,
    "churn_share": 0.25,
}


def _window(faults: Sequence[Fault], kind: str, minutes: int) -> list[tuple[slice, Fault]]:
    return [(slice(f.start, min(f.end, minutes)), f) for f in faults if f.kind == kind and f.start < minutes]


def ops_series(days: int, seed: int, faults: Sequence[Fault]) -> SeriesStore:
    traffic = calm_traffic(days, seed)
    rng, n = traffic.rng, traffic.minutes
    store = SeriesStore(n)
    llm_rate = traffic.llm.copy()
    for span, f in _window(faults, "ttft", n):
        llm_rate[span] *= f.param("load")

    # Churn: requests, 5xx, latency, predictions.
    churn = rng.poisson(traffic.churn)
    churn_err_ratio = np.full(n, CALM["churn_error_ratio"])
    for span, f in _window(faults, "errors", n):
        churn_err_ratio[span] = f.param("ratio")
    churn_err = rng.binomial(churn, churn_err_ratio)
    store.counter("modelgate_requests_total", {**CHURN, "status": "200"}, churn - churn_err)
    store.counter("modelgate_requests_total", {**CHURN, "status": "500"}, churn_err)
    median = np.full(n, CALM["churn_median"])
    for span, f in _window(faults, "latency", n):
        median[span] *= f.param("factor")
    buckets, total = lognormal_bucket_counts(rng, churn, median, CALM["churn_sigma"], LATENCY_BUCKETS)
    store.histogram(
        "modelgate_request_duration_seconds",
        {**CHURN, "status_class": "2xx"},
        buckets,
        total,
        LATENCY_BUCKETS,
    )
    says_churn = rng.binomial(churn - churn_err, CALM["churn_share"])
    version = {"model_version": "churn-v1"}
    store.counter("churn_predictions_total", {**version, "predicted_class": "churn"}, says_churn)
    store.counter(
        "churn_predictions_total", {**version, "predicted_class": "no_churn"}, churn - churn_err - says_churn
    )

    # LLM: requests by outcome, upstream reachability, TTFT, durations, per-tenant counts.
    llm = rng.poisson(llm_rate)
    down = np.zeros(n, dtype=bool)
    for span, _ in _window(faults, "upstream_down", n):
        down[span] = True
    midstream_ratio = np.zeros(n)
    for span, f in _window(faults, "midstream", n):
        midstream_ratio[span] = f.param("ratio")
    failed_before = rng.binomial(llm, CALM["llm_error_ratio"])
    failed_before = np.where(down, llm, failed_before)  # every call fails to connect: 502
    served = llm - failed_before
    midstream = rng.binomial(served, midstream_ratio)
    ok = served - midstream
    store.counter("modelgate_requests_total", {**LLM, "status": "200"}, ok)
    store.counter("modelgate_requests_total", {**LLM, "status": "502"}, failed_before + midstream)
    store.counter(
        "modelgate_llm_upstream_errors_total",
        {"model": MODEL, "error_type": "connect"},
        np.where(down, llm, 0),
    )
    store.counter("modelgate_llm_stream_failures_total", {"model": MODEL, "kind": "transport"}, midstream)
    for tenant, share in zip(TENANTS, TENANT_SHARE, strict=True):
        mine = rng.binomial(ok, share)
        store.counter(
            "modelgate_llm_requests_total", {"tenant": tenant, "model": MODEL, "status": "200"}, mine
        )
    store.gauge("up", {"job": "modelgate", "instance": "127.0.0.1:8000"}, np.ones(n))
    store.gauge("up", {"job": "vllm", "instance": "127.0.0.1:8001"}, np.where(down, 0.0, 1.0))

    ttft_median = np.full(n, CALM["ttft_median"])
    for span, f in _window(faults, "ttft", n):
        ttft_median[span] *= f.param("factor")
    streamed = served  # a first token arrived for every call that reached the upstream
    buckets, total = lognormal_bucket_counts(rng, streamed, ttft_median, CALM["ttft_sigma"], TTFT_BUCKETS)
    store.histogram(
        "gen_ai_server_time_to_first_token_seconds", {"model": MODEL}, buckets, total, TTFT_BUCKETS
    )
    llm_median = CALM["llm_median"] + ttft_median - CALM["ttft_median"]
    buckets, total = lognormal_bucket_counts(rng, served, llm_median, CALM["llm_sigma"], LATENCY_BUCKETS)
    store.histogram(
        "modelgate_request_duration_seconds", {**LLM, "status_class": "2xx"}, buckets, total, LATENCY_BUCKETS
    )
    return store
