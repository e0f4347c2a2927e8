"""Churn serving logic: score, count, log. The router stays thin and this stays testable.

serving = ChurnServing(predictor, metrics, log_writer)
results = serving.predict([features], tenant="acme", request_id="…", trace_id=None, client_request_id=None)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from adapters.churn.protocol import Predictor
from adapters.churn.schema import PREDICTION_LABELS, PredictionLabel
from gateway.metrics import GatewayMetrics

__all__ = ["ChurnServing", "LogSink", "Scored"]


class LogSink(Protocol):
    def submit(self, row: dict[str, Any]) -> bool: ...


@dataclass(frozen=True)
class Scored:
    probability: float
    label: PredictionLabel


class ChurnServing:
    def __init__(self, predictor: Predictor, metrics: GatewayMetrics, log: LogSink | None) -> None:
        self.predictor = predictor
        self.metrics = metrics
        self.log = log
        version = predictor.version
        # Children resolved once: .labels() per request is measurable on the hot path.
        self._score = metrics.churn_score.labels(version)
        self._count = {label: metrics.churn_predictions.labels(label, version) for label in PREDICTION_LABELS}

    @property
    def version(self) -> str:
        return self.predictor.version

    def predict(
        self,
        rows: list[dict[str, Any]],
        *,
        tenant: str,
        request_id: str,
        trace_id: str | None,
        client_request_id: str | None = None,
    ) -> list[Scored]:
        """Score validated feature rows (each may carry `customer_id`), record metrics, queue log rows."""
        predictor = self.predictor
        if len(rows) == 1:
            probabilities = [predictor.predict_one(rows[0])]
        else:
            probabilities = [float(p) for p in predictor.predict_many(rows)]
        threshold = predictor.threshold
        now = datetime.now(UTC)
        out: list[Scored] = []
        for row, p in zip(rows, probabilities, strict=True):
            label = PREDICTION_LABELS[1] if p >= threshold else PREDICTION_LABELS[0]
            self._score.observe(p)
            self._count[label].inc()
            out.append(Scored(p, label))
            if self.log is not None:
                self.log.submit(
                    {
                        **row,
                        "ts": now,
                        "request_id": request_id,
                        "client_request_id": client_request_id,
                        "trace_id": trace_id,
                        "tenant": tenant,
                        "model_version": predictor.version,
                        "churn_probability": p,
                        "prediction": label,
                    }
                )
        return out
