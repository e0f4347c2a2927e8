"""The lesson's churn service: the baseline modelgate's churn route is benchmarked against.

It is written the way the course material serves a scikit-learn model, on purpose: per request it builds a
one-row pandas DataFrame, calls the Pipeline's `predict_proba`, opens the log file and appends one JSON
line, and records a prometheus_client Counter and Histogram. Same model artifact and same JSON body as
`POST /v1/churn/predict` on the gateway (the seven features of `adapters/churn/schema.py`).

    python -m bench.churn_reference_service --artifact data/models/churn --port 8010 --log /tmp/ref.jsonl

Choices where the lesson leaves room, made in the baseline's favour: the endpoint is a plain `def` (FastAPI
runs it in its threadpool, the usual way to serve a blocking model), uvicorn's access log is off, and the
metrics use an explicit registry (served at `GET /metrics`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel

from adapters.churn.schema import FEATURE_NAMES

__all__ = ["ChurnFeatures", "create_app", "main"]


class ChurnFeatures(BaseModel):
    """One customer, as the gateway's churn route takes it."""

    tenure_months: int
    monthly_charges: float
    total_charges: float
    support_tickets: int
    contract_type: str
    payment_method: str
    internet_service: str
    customer_id: str | None = None


def create_app(artifact_dir: Path, log_path: Path) -> FastAPI:
    """Load the artifact's pipeline and build the service; nothing is read before this is called."""
    pipeline: Any = joblib.load(artifact_dir / "model.joblib")
    meta = json.loads((artifact_dir / "metadata.json").read_text(encoding="utf-8"))
    version = str(meta["version"])
    threshold = float(meta.get("threshold", 0.5))

    registry = CollectorRegistry()
    predictions = Counter(
        "churn_predictions_total", "Churn predictions served.", ["prediction"], registry=registry
    )
    latency = Histogram("churn_request_duration_seconds", "Time to score one request.", registry=registry)
    app = FastAPI(title="churn reference service")

    @app.post("/predict")
    def predict(features: ChurnFeatures) -> dict[str, Any]:
        started = time.perf_counter()
        row = features.model_dump()
        frame = pd.DataFrame([{name: row[name] for name in FEATURE_NAMES}])
        probability = float(pipeline.predict_proba(frame)[0, 1])
        label = "churn" if probability >= threshold else "no_churn"
        record = {"ts": time.time(), **row, "churn_probability": probability, "prediction": label}
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        predictions.labels(label).inc()
        latency.observe(time.perf_counter() - started)
        return {"churn_probability": probability, "prediction": label, "model_version": version}

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.churn_reference_service", description=__doc__)
    parser.add_argument("--artifact", type=Path, required=True, help="churn artifact directory")
    parser.add_argument("--log", type=Path, required=True, help="JSONL file each prediction is appended to")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010)
    args = parser.parse_args(argv)
    if not (args.artifact / "model.joblib").is_file():
        print(f"churn_reference_service: no model.joblib in {args.artifact}", file=sys.stderr)
        return 2

    import uvicorn

    app = create_app(args.artifact, args.log)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
