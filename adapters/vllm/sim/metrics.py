"""The simulator's Prometheus metrics, under vLLM's own names, read from plain counters at scrape time.

vLLM's histograms observe every inter-token interval, which through `prometheus_client.Histogram`
(a lock per bucket increment, ~2 µs an observation here) would cost more than the rest of a request.
So the simulator keeps lock-free tallies (all updates happen on the event loop thread) and a custom
`Collector` turns them into metric families when `/metrics` is scraped. Names, labels and buckets are
vLLM's (`vllm/v1/metrics/loggers.py`); the label is `model_name`:

    metrics = SimMetrics("sim-llama-3-8b", gate_state=lambda: (running, waiting, limit), registry=registry)
    metrics.ttft.observe(0.021)
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

__all__ = ["FINISH_REASONS", "SimMetrics", "Tally"]

FINISH_REASONS = ("stop", "length", "abort")

_TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0,
    80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
_ITL_BUCKETS = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
)  # fmt: skip
_REQUEST_LATENCY_BUCKETS = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0,
    960.0, 1920.0, 7680.0,
)  # fmt: skip

GateState = Callable[[], tuple[int, int, int]]


class Tally:
    """A histogram's state: per-bucket counts (last one +Inf) and the sum. Not thread-safe by design."""

    __slots__ = ("_bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self._bounds = tuple(bounds)
        self.counts = [0] * (len(self._bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        # bisect_left finds the first bound >= value, which is Prometheus' `le` bucket.
        self.counts[bisect_left(self._bounds, value)] += 1
        self.total += value

    def observe_many(self, value: float, times: int) -> None:
        if times > 0:
            self.counts[bisect_left(self._bounds, value)] += times
            self.total += value * times

    def buckets(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*map(repr, self._bounds), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


class SimMetrics(Collector):
    """vLLM's request metrics for one served model, registered on `registry`."""

    def __init__(self, model: str, gate_state: GateState, registry: CollectorRegistry) -> None:
        self._model = model
        self._gate_state = gate_state
        self.ttft = Tally(_TTFT_BUCKETS)
        self.itl = Tally(_ITL_BUCKETS)
        self.e2e = Tally(_REQUEST_LATENCY_BUCKETS)
        self.queue = Tally(_REQUEST_LATENCY_BUCKETS)
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.success = dict.fromkeys(FINISH_REASONS, 0)
        self.faults: dict[str, int] = dict.fromkeys(("error", "hang", "drop", "wrong"), 0)
        registry.register(self)

    def finished(self, reason: str, prompt_tokens: int, generation_tokens: int) -> None:
        """Count one request that ended (`stop`, `length`, or `abort` when the stream was cut)."""
        self.prompt_tokens += prompt_tokens
        self.generation_tokens += generation_tokens
        self.success[reason] += 1

    def collect(self) -> Iterator[Metric]:
        labels = [self._model]
        running, waiting, limit = self._gate_state()
        for name, doc, value in (
            ("vllm:num_requests_running", "Number of requests in model execution batches.", running),
            ("vllm:num_requests_waiting", "Number of requests waiting to be processed.", waiting),
            (
                "vllm:kv_cache_usage_perc",
                "KV-cache usage. 1 means 100 percent usage (simulated: running / max concurrency).",
                running / limit,
            ),
        ):
            gauge = GaugeMetricFamily(name, doc, labels=["model_name"])
            gauge.add_metric(labels, value)
            yield gauge
        for name, doc, total in (
            ("vllm:prompt_tokens", "Number of prefill tokens processed.", self.prompt_tokens),
            ("vllm:generation_tokens", "Number of generation tokens processed.", self.generation_tokens),
        ):
            counter = CounterMetricFamily(name, doc, labels=["model_name"])
            counter.add_metric(labels, total)
            yield counter
        success = CounterMetricFamily(
            "vllm:request_success",
            "Count of successfully processed requests.",
            labels=["model_name", "finished_reason"],
        )
        for reason, count in self.success.items():
            success.add_metric([self._model, reason], count)
        yield success
        for name, doc, tally in (
            ("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", self.ttft),
            ("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", self.itl),
            ("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", self.e2e),
            (
                "vllm:request_queue_time_seconds",
                "Histogram of time spent in WAITING phase for request.",
                self.queue,
            ),
        ):
            histogram = HistogramMetricFamily(name, doc, labels=["model_name"])
            histogram.add_metric(labels, tally.buckets(), sum_value=tally.total)
            yield histogram
        faults = CounterMetricFamily(
            "vllm_sim_faults_injected",
            "Faults the simulator injected, by kind (not a vLLM metric).",
            labels=["kind"],
        )
        for kind, count in self.faults.items():
            faults.add_metric([kind], count)
        yield faults
