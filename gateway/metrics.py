"""Every instrument the gateway records, on one explicit registry (docs/metrics.md lists them).

Label values come only from closed sets: route templates, configured tenants and models, status classes.
Anything else becomes `other`, so no client can mint new series:

    metrics = GatewayMetrics(CollectorRegistry(), tenants={"acme"}, models={"llama"})
    metrics.tenant_label("mallory")   # -> "other"
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["LATENCY_BUCKETS", "OTHER", "GatewayMetrics"]

OTHER = "other"

# Fine resolution between 1 ms and 100 ms, where a healthy gateway lives; coarse beyond.
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
SCORE_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))
# OTel GenAI semantic conventions (gen-ai-metrics.md) bucket boundaries.
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
REQUEST_DURATION_BUCKETS = tuple(round(0.01 * 2**i, 2) for i in range(14))  # 0.01 … 81.92


class GatewayMetrics:
    """The gateway's instruments. One instance per app; tests pass a fresh registry."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        tenants: Iterable[str] = (),
        models: Iterable[str] = (),
        version: str = "0",
    ) -> None:
        self.registry = registry
        self._tenants = frozenset(tenants)
        self._models = frozenset(models)
        r = registry

        Gauge("modelgate_build_info", "modelgate build; value is 1.", ["version"], registry=r).labels(
            version
        ).set(1)
        self.request_duration = Histogram(
            "modelgate_request_duration_seconds",
            "Time from request start to the last byte of the response.",
            ["backend", "route", "method", "status_class"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.requests = Counter(
            "modelgate_requests",
            "Requests answered, by final status.",
            ["backend", "route", "method", "status"],
            registry=r,
        )
        # Churn (the seed's names, so its PromQL keeps working).
        self.churn_predictions = Counter(
            "churn_predictions", "Churn predictions served.", ["predicted_class", "model_version"], registry=r
        )
        self.churn_score = Histogram(
            "churn_prediction_score",
            "Predicted churn probability.",
            ["model_version"],
            buckets=SCORE_BUCKETS,
            registry=r,
        )
        self.model_loaded = Gauge(
            "modelgate_model_loaded",
            "1 while this model version is loaded.",
            ["model", "model_version"],
            registry=r,
        )
        self.prediction_log_rows = Counter(
            "modelgate_prediction_log_rows",
            "Churn prediction log rows, written or dropped (queue full / write failed).",
            ["outcome"],
            registry=r,
        )
        # LLM lane.
        self.ttft = Histogram(
            "gen_ai_server_time_to_first_token_seconds",
            "Time to first token of streamed LLM responses, seen at the gateway.",
            ["model"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.tpot = Histogram(
            "gen_ai_server_time_per_output_token_seconds",
            "Time between output tokens (chunks) after the first, seen at the gateway.",
            ["model"],
            buckets=TPOT_BUCKETS,
            registry=r,
        )
        self.llm_duration = Histogram(
            "gen_ai_server_request_duration_seconds",
            "LLM request duration until the last byte.",
            ["model", "stream"],
            buckets=REQUEST_DURATION_BUCKETS,
            registry=r,
        )
        self.llm_tokens = Counter(
            "modelgate_llm_tokens",
            "Tokens billed, as reported by the upstream.",
            ["tenant", "model", "type"],
            registry=r,
        )
        self.llm_cost = Counter("modelgate_llm_cost_usd", "USD billed.", ["tenant", "model"], registry=r)
        self.llm_requests = Counter(
            "modelgate_llm_requests",
            "LLM requests by final HTTP status.",
            ["tenant", "model", "status"],
            registry=r,
        )
        self.llm_in_flight = Gauge(
            "modelgate_llm_requests_in_flight", "LLM requests being served now.", ["model"], registry=r
        )
        self.llm_upstream_errors = Counter(
            "modelgate_llm_upstream_errors",
            "Upstream failures by kind.",
            ["model", "error_type"],
            registry=r,
        )
        self.llm_log_rows = Counter(
            "modelgate_llm_log_rows", "LLM request log rows, written or dropped.", ["outcome"], registry=r
        )
        self.budget_refusals = Counter(
            "modelgate_budget_refusals",
            "Requests refused because they could exceed a budget.",
            ["tenant", "window"],
            registry=r,
        )
        self.budget_overruns = Counter(
            "modelgate_budget_overrun",
            "Requests whose reported usage cost more than was reserved for them (billed as reported).",
            ["tenant"],
            registry=r,
        )
        self.concurrency_refusals = Counter(
            "modelgate_concurrency_refusals",
            "LLM requests refused because the tenant had its maximum in flight on this replica.",
            ["tenant"],
            registry=r,
        )
        self.settle_failures = Counter(
            "modelgate_budget_settle_failures",
            "Settlements the ledger refused or could not take; each is journaled and retried.",
            registry=r,
        )
        self.settle_pending = Gauge(
            "modelgate_budget_settle_pending",
            "Settlements waiting in the local journal for the ledger to take them.",
            registry=r,
        )
        self.stream_failures = Counter(
            "modelgate_llm_stream_failures",
            "Streams that failed after their 200 header went out (counted with the failure's status).",
            ["model", "kind"],
            registry=r,
        )

    def tenant_label(self, tenant: str) -> str:
        return tenant if tenant in self._tenants else OTHER

    def model_label(self, model: str | None) -> str:
        return model if model in self._models else OTHER
