"""The series a month of gateway traffic leaves in Prometheus, one sample a minute, as numpy arrays.

Names, labels and bucket boundaries are the gateway's own (docs/metrics.md; gateway/metrics.py is not
imported: monitoring reads what the gateway exposes, and tests/monitoring/scorecard checks the two
agree, and the live error spike compares them with a real scrape). Counters are cumulative, as a scrape
sees them; a histogram is its `_bucket{le}` series plus `_count` and `_sum`.

Calm traffic has the shapes a real service has: a diurnal curve (busy afternoons, quiet nights), a weekday
mix, quiet weekends at 40% of a weekday, Poisson noise on every count, a small background of 5xx, and
lognormal latencies. Faults multiply or replace parts of it for a span of minutes (scorecard/ops.py).

    traffic = calm_traffic(days=30, seed=1)       # requests per minute per backend
    store = SeriesStore(minutes=traffic.minutes)
    store.counter("modelgate_requests_total", {"backend": "churn", ...}, per_minute_counts)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "LATENCY_BUCKETS",
    "MINUTES_PER_DAY",
    "TTFT_BUCKETS",
    "SeriesStore",
    "Traffic",
    "calm_traffic",
    "lognormal_bucket_counts",
]

MINUTES_PER_DAY = 1440
# The gateway's bucket boundaries (gateway/metrics.py LATENCY_BUCKETS and the OTel GenAI TTFT buckets).
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
# Weekday volume relative to a Tuesday; day 0 of a month is a Monday, days 5 and 6 the weekend.
WEEK_SHAPE = (0.95, 1.0, 1.0, 0.97, 0.85, 0.4, 0.4)


@dataclass(frozen=True)
class Traffic:
    """Expected requests per minute per backend (before noise), and the generator that adds the noise."""

    minutes: int
    churn: np.ndarray
    llm: np.ndarray
    rng: np.random.Generator


def calm_traffic(
    days: int, seed: int, *, churn_peak_rpm: float = 900.0, llm_peak_rpm: float = 120.0
) -> Traffic:
    """Diurnal, weekday-shaped expected request rates for `days` days (peak at 15:00, trough at 04:00)."""
    minutes = days * MINUTES_PER_DAY
    t = np.arange(minutes)
    hour = (t % MINUTES_PER_DAY) / 60.0
    diurnal = 0.2 + 0.8 * (0.5 - 0.5 * np.cos(2 * math.pi * (hour - 3.0) / 24.0)) ** 1.5
    week = np.asarray(WEEK_SHAPE)[(t // MINUTES_PER_DAY) % 7]
    shape = diurnal * week
    return Traffic(minutes, churn_peak_rpm * shape, llm_peak_rpm * shape, np.random.default_rng(seed))


def lognormal_bucket_counts(
    rng: np.random.Generator, counts: np.ndarray, median: np.ndarray, sigma: float, bounds: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-minute observations spread over `bounds` (cumulative `le` counts, +Inf last) and their sum.

    `median` may vary by minute (a latency fault multiplies it). Returns (minutes x len(bounds)+1, sum).
    """
    edges = np.asarray(bounds)[None, :]
    z = (np.log(edges) - np.log(median)[:, None]) / sigma
    cdf = 0.5 * (1.0 + _erf(z / math.sqrt(2.0)))
    probs = np.diff(np.concatenate([np.zeros((len(counts), 1)), cdf, np.ones((len(counts), 1))], axis=1))
    draws = np.stack([rng.multinomial(int(n), p) for n, p in zip(counts, probs, strict=True)])
    mean = median * math.exp(sigma**2 / 2.0)
    return np.cumsum(draws, axis=1), counts * mean


def _erf(x: np.ndarray) -> np.ndarray:
    """Vectorised error function (Abramowitz-Stegun 7.1.26, |error| < 1.5e-7): numpy has none."""
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return np.asarray(sign * (1.0 - poly * np.exp(-x * x)))


@dataclass
class SeriesStore:
    """Named series with their per-minute samples; NaN marks "no sample" (a target not scraped)."""

    minutes: int
    series: dict[str, np.ndarray] = field(default_factory=dict)

    @staticmethod
    def key(name: str, labels: Mapping[str, str]) -> str:
        inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        return f"{name}{{{inner}}}"

    def gauge(self, name: str, labels: Mapping[str, str], values: np.ndarray) -> None:
        self.series[self.key(name, labels)] = np.asarray(values, dtype=float)

    def counter(self, name: str, labels: Mapping[str, str], per_minute: np.ndarray) -> None:
        """A counter from per-minute increments (the cumulative value is what a scrape sees)."""
        self.gauge(name, labels, np.cumsum(per_minute))

    def histogram(
        self,
        name: str,
        labels: Mapping[str, str],
        buckets: np.ndarray,
        total: np.ndarray,
        bounds: Sequence[float],
    ) -> None:
        """`_bucket{le}` (cumulative over time too), `_count` and `_sum` from per-minute bucket counts."""
        over_time = np.cumsum(buckets, axis=0)
        for i, le in enumerate([*(_le(b) for b in bounds), "+Inf"]):
            self.series[self.key(f"{name}_bucket", {**labels, "le": le})] = over_time[:, i].astype(float)
        self.series[self.key(f"{name}_count", labels)] = over_time[:, -1].astype(float)
        self.series[self.key(f"{name}_sum", labels)] = np.cumsum(total)


def _le(bound: float) -> str:
    """`le` as prometheus_client writes it: 0.001, 0.25, 1.0, 10.0."""
    return repr(float(bound))
