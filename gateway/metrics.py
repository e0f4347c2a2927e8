"""Every instrument the gateway records, on one explicit registry (docs/metrics.md lists them).

Label values come only from closed sets: route templates, configured tenants and models, status classes.
Anything else becomes `other`, so no client can mint new series:

    metrics = GatewayMetrics(CollectorRegistry(), tenants={"acme"}, models={"llama"})
    metrics.tenant_label("mallory")   # -> "other"
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = [
    "AUTH_FAILURE_REASONS",
    "GENAI_PROVIDER",
    "LATENCY_BUCKETS",
    "OTHER",
    "TOKEN_USAGE_BUCKETS",
    "GatewayMetrics",
    "LabelCache",
]

_M = TypeVar("_M", Counter, Gauge, Histogram)

OTHER = "other"
AUTH_FAILURE_REASONS = (
    "missing",
    "malformed",
    "unknown",
    "expired",
    "revoked",
    "lane_not_allowed",
    "model_not_allowed",
    "admin_unknown",
    "admin_tenant_key",
)

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
TOKEN_USAGE_BUCKETS = tuple(float(4**i) for i in range(14))  # 1, 4, 16 … 67108864
# gen_ai.provider.name of the upstream, as on the LLM client span (gateway/tracing/genai.py).
GENAI_PROVIDER = "vllm"
# The OTel GenAI client metrics' attributes in their Prometheus form (dots become underscores).
_GENAI_CLIENT_LABELS = ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"]


class LabelCache(Generic[_M]):
    """`metric.labels(*values)`, memoised per label tuple, for the per-request hot paths.

    prometheus_client takes a lock and rebuilds the key on every `labels()` call (~1.5 µs, about ten
    calls per LLM request); a dict lookup is ~0.2 µs. Label values here come only from closed sets (see
    the module docstring), so the cache holds no more entries than the series that exist anyway.

        requests = LabelCache(metrics.requests)
        requests("llm", "/v1/chat/completions", "POST", "200").inc()
    """

    __slots__ = ("_cache", "_labels")

    def __init__(self, metric: _M) -> None:
        self._labels: Callable[..., _M] = metric.labels
        self._cache: dict[tuple[str, ...], _M] = {}

    def __call__(self, *values: str) -> _M:
        child = self._cache.get(values)
        if child is None:
            child = self._cache[values] = self._labels(*values)
        return child


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
        # OTel GenAI client metrics (gen-ai-metrics.md, v1.41), next to the names above: what a dashboard
        # built for any GenAI client expects. The gateway is the client of the upstream here.
        self.genai_client_duration = Histogram(
            "gen_ai_client_operation_duration_seconds",
            "GenAI operation duration (gen_ai.client.operation.duration), from the request to its last byte.",
            [*_GENAI_CLIENT_LABELS, "error_type"],
            buckets=REQUEST_DURATION_BUCKETS,
            registry=r,
        )
        self.genai_client_tokens = Histogram(
            "gen_ai_client_token_usage",
            "Input and output tokens per operation (gen_ai.client.token.usage), as billed.",
            [*_GENAI_CLIENT_LABELS, "gen_ai_token_type"],
            buckets=TOKEN_USAGE_BUCKETS,
            registry=r,
        )
        self.genai_client_ttfc = Histogram(
            "gen_ai_client_operation_time_to_first_chunk_seconds",
            "Time to the first chunk of a streamed response (gen_ai.client.operation.time_to_first_chunk).",
            _GENAI_CLIENT_LABELS,
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        # Three observes on every LLM request: their series resolved once per label tuple.
        self._genai_duration = LabelCache(self.genai_client_duration)
        self._genai_tokens = LabelCache(self.genai_client_tokens)
        self._genai_ttfc = LabelCache(self.genai_client_ttfc)
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
        # The fleet (gateway/routing/); the healthy and in-flight gauges are read at scrape time
        # (gateway/routing/telemetry.py). `upstream` values are the configured replica names.
        self.upstream_requests = Counter(
            "modelgate_upstream_requests",
            "Attempts sent to each upstream replica, by outcome (ok, connect, timeout, status_5xx, …).",
            ["upstream", "outcome"],
            registry=r,
        )
        self.upstream_retries = Counter(
            "modelgate_upstream_retries",
            "Requests retried on another replica before any byte reached the client, by failure kind.",
            ["model", "reason"],
            registry=r,
        )
        self.upstream_fallbacks = Counter(
            "modelgate_upstream_fallbacks",
            "Requests for a model served by its fallback model (every replica of the model was out).",
            ["model", "fallback_model"],
            registry=r,
        )
        self.upstream_ejections = Counter(
            "modelgate_upstream_ejections",
            "Times a replica was taken out of rotation (passive failures or a failed health check).",
            ["upstream"],
            registry=r,
        )
        self.budget_refusals = Counter(
            "modelgate_budget_refusals",
            "Requests refused because they could exceed a budget.",
            ["tenant", "window"],
            registry=r,
        )
        # Tenancy: bounded label sets (AUTH_FAILURE_REASONS, RATE_LIMITS); never key material.
        self.auth_failures = Counter(
            "modelgate_auth_failures",
            "Requests refused by authentication or key scope, by reason.",
            ["reason"],
            registry=r,
        )
        for reason in AUTH_FAILURE_REASONS:
            self.auth_failures.labels(reason)
        self.rate_limited = Counter(
            "modelgate_rate_limited",
            "LLM requests refused by a rate limit (rpm or tpm, of the tenant or of its key).",
            ["tenant", "limit"],
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

    def observe_genai_client(
        self,
        operation: str,
        model_label: str,
        *,
        duration_s: float,
        ttft_s: float | None,
        input_tokens: int | None,
        output_tokens: int | None,
        error_type: str | None,
        exemplar: dict[str, str] | None,
    ) -> None:
        """Record one finished LLM operation in the OTel GenAI client metrics. `error_type` is the span's
        `error.type` (None on success: the label is then empty, which PromQL treats as absent, as the
        OTel Prometheus exporter leaves an unset attribute out)."""
        self._genai_duration(operation, GENAI_PROVIDER, model_label, error_type or "").observe(
            duration_s, exemplar=exemplar
        )
        if ttft_s is not None:
            self._genai_ttfc(operation, GENAI_PROVIDER, model_label).observe(ttft_s, exemplar=exemplar)
        if input_tokens is not None:
            self._genai_tokens(operation, GENAI_PROVIDER, model_label, "input").observe(input_tokens)
        if output_tokens is not None:
            self._genai_tokens(operation, GENAI_PROVIDER, model_label, "output").observe(output_tokens)

    def set_tenants(self, tenants: Iterable[str]) -> None:
        """The tenant label set follows the tenant store (tenants are created while the gateway runs)."""
        self._tenants = frozenset(tenants)

    def set_models(self, models: Iterable[str]) -> None:
        self._models = frozenset(models)

    def tenant_label(self, tenant: str) -> str:
        return tenant if tenant in self._tenants else OTHER

    def model_label(self, model: str | None) -> str:
        return model if model in self._models else OTHER
