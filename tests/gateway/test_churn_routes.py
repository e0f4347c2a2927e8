"""The churn routes over real HTTP: the app under uvicorn on 127.0.0.1, the real artifact, real Parquet."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pyarrow.dataset as ds
import pytest

from gateway.app import create_app
from gateway.settings import Settings
from support.conftest_helpers import ACME_KEY, CHURN_CUSTOMER, DEV_KEY, metric_samples
from support.servers import uvicorn_thread

GOOD = CHURN_CUSTOMER
ACME = {"Authorization": f"Bearer {ACME_KEY}"}


@pytest.fixture
def gateway(make_settings: Callable[..., Settings]) -> Iterator[tuple[httpx.Client, Settings]]:
    settings = make_settings()
    with uvicorn_thread(create_app(settings)) as base, httpx.Client(base_url=base, timeout=10) as client:
        yield client, settings


def test_predict_returns_probability_class_version_and_request_id(
    gateway: tuple[httpx.Client, Settings],
) -> None:
    client, _ = gateway
    r = client.post("/v1/churn/predict", json={**GOOD, "customer_id": "c-1"}, headers=ACME)
    assert r.status_code == 200, r.text
    body = r.json()
    assert 0.0 < body["churn_probability"] < 1.0
    assert body["prediction"] == ("churn" if body["churn_probability"] >= 0.5 else "no_churn")
    assert body["model_version"].startswith("churn-")
    assert body["request_id"] == r.headers["x-request-id"]
    assert body["customer_id"] == "c-1"


def test_batch_predicts_each_instance_and_enforces_the_limit(gateway: tuple[httpx.Client, Settings]) -> None:
    client, settings = gateway
    rows = [{**GOOD, "tenure_months": t} for t in range(0, 60, 3)]
    r = client.post("/v1/churn/predict/batch", json={"instances": rows}, headers=ACME)
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert len(preds) == len(rows)
    # longer tenure lowers churn risk in the true function: the model learned it
    assert preds[0]["churn_probability"] > preds[-1]["churn_probability"]
    too_many = {"instances": [GOOD] * (settings.churn.batch_limit + 1)}
    r = client.post("/v1/churn/predict/batch", json=too_many, headers=ACME)
    assert r.status_code == 422
    assert r.json()["error"]["param"] == "instances"


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"tenure_months": None}, "tenure_months"),
        ({"tenure_months": "12"}, "tenure_months"),
        ({"monthly_charges": -5}, "monthly_charges"),
        ({"total_charges": 1e12}, "total_charges"),
        ({"support_tickets": 2.5}, "support_tickets"),
        ({"contract_type": "weekly"}, "contract_type"),
        ({"internet_service": 3}, "internet_service"),
        ({"favourite_colour": "blue"}, "favourite_colour"),
    ],
)
def test_bad_input_is_422_naming_the_field(
    gateway: tuple[httpx.Client, Settings], change: dict[str, Any], param: str
) -> None:
    client, _ = gateway
    body = {**GOOD, **change}
    body = {k: v for k, v in body.items() if v is not None}
    r = client.post("/v1/churn/predict", json=body, headers=ACME)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["param"] == param and param in err["message"]
    assert set(err) == {"message", "type", "param", "code"}


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(gateway: tuple[httpx.Client, Settings], literal: str) -> None:
    client, _ = gateway
    raw = (
        f'{{"tenure_months": 4, "monthly_charges": {literal}, "total_charges": 10.0, "support_tickets": 0, '
        '"contract_type": "one_year", "payment_method": "credit_card", "internet_service": "dsl"}'
    )
    r = client.post("/v1/churn/predict", content=raw, headers={**ACME, "content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"]["param"] == "monthly_charges"


def test_malformed_json_and_oversized_bodies(gateway: tuple[httpx.Client, Settings]) -> None:
    client, settings = gateway
    r = client.post(
        "/v1/churn/predict",
        content=b'{"tenure_months": 4,',
        headers={**ACME, "content-type": "application/json"},
    )
    assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]
    big = b'{"pad": "' + b"x" * (settings.server.max_body_bytes + 10) + b'"}'
    r = client.post("/v1/churn/predict", content=big, headers={**ACME, "content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit still holds while streaming in
        for _ in range(settings.server.max_body_bytes // 4096 + 2):
            yield b"x" * 4096

    r = client.post(
        "/v1/churn/predict", content=chunks(), headers={**ACME, "content-type": "application/json"}
    )
    assert r.status_code == 413


def test_auth_missing_unknown_and_dev_key(gateway: tuple[httpx.Client, Settings]) -> None:
    client, _ = gateway
    assert client.post("/v1/churn/predict", json=GOOD).status_code == 401
    r = client.post("/v1/churn/predict", json=GOOD, headers={"Authorization": "Bearer mg-nope"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert (
        client.post("/v1/churn/predict", json=GOOD, headers={"Authorization": "Basic abc"}).status_code == 401
    )
    assert (
        client.post(
            "/v1/churn/predict", json=GOOD, headers={"Authorization": f"Bearer {DEV_KEY}"}
        ).status_code
        == 200
    )


def test_health_ready_and_metrics(gateway: tuple[httpx.Client, Settings]) -> None:
    client, _ = gateway
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["churn_model"]["loaded"] is True
    for _ in range(3):
        client.post("/v1/churn/predict", json=GOOD, headers=ACME)
    client.post("/v1/churn/predict", json={**GOOD, "tenure_months": -1}, headers=ACME)
    samples = metric_samples(client.get("/metrics").text)
    ok = samples[
        (
            "modelgate_requests_total",
            (("backend", "churn"), ("method", "POST"), ("route", "/v1/churn/predict"), ("status", "200")),
        )
    ]
    assert ok == 3
    assert (
        samples[
            (
                "modelgate_requests_total",
                (("backend", "churn"), ("method", "POST"), ("route", "/v1/churn/predict"), ("status", "422")),
            )
        ]
        == 1
    )
    hist_count = samples[
        ("modelgate_request_duration_seconds_count",
         (("backend", "churn"), ("method", "POST"), ("route", "/v1/churn/predict"), ("status_class", "2xx")))
    ]  # fmt: skip
    assert hist_count == 3
    assert sum(v for (name, _), v in samples.items() if name == "churn_predictions_total") == 3
    assert not any(dict(labels).get("route") == "/metrics" for (_, labels) in samples)


@pytest.mark.slow
def test_random_paths_collapse_into_one_route_label(make_settings: Callable[..., Settings]) -> None:
    """10,000 requests to random paths add no series: in process (ASGI), since the point is the labels."""
    app = create_app(make_settings())
    rng = random.Random(3)

    async def run() -> tuple[set[Any], set[Any]]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:

                async def series() -> set[Any]:
                    text = (await client.get("/metrics")).text
                    return {k for k in metric_samples(text) if k[0].startswith("modelgate_request")}

                for method in ("GET", "POST", "DELETE"):
                    await client.request(method, "/warm-up")
                before = await series()
                alphabet = "abcdefghijklmnopqrstuvwxyz0123456789/-"
                for i in range(10_000):
                    path = "/" + "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
                    await client.request(("GET", "POST", "DELETE")[i % 3], path)
                return before, await series()

    before, after = asyncio.run(run())
    assert after == before
    routes = {dict(labels)["route"] for (_, labels) in after}
    assert routes == {"other"}


def test_every_accepted_prediction_is_logged(gateway: tuple[httpx.Client, Settings]) -> None:
    client, settings = gateway
    ids = set()
    for i in range(25):
        r = client.post("/v1/churn/predict", json={**GOOD, "customer_id": f"c{i}"}, headers=ACME)
        ids.add(r.json()["request_id"])
    deadline = time.monotonic() + 10
    table = None
    while time.monotonic() < deadline:
        if Path(settings.prediction_log_uri).exists():
            table = ds.dataset(settings.prediction_log_uri, format="parquet", partitioning="hive").to_table()
            if table.num_rows >= 25:
                break
        time.sleep(0.1)
    assert table is not None and table.num_rows == 25
    rows = table.to_pylist()
    assert {r["request_id"] for r in rows} == ids
    row = rows[0]
    assert row["tenant"] == "acme" and row["customer_id"].startswith("c")
    assert row["contract_type"] == "month-to-month" and row["model_version"].startswith("churn-")
    assert row["prediction"] in ("churn", "no_churn") and 0 < row["churn_probability"] < 1


def test_openapi_shows_the_real_response_models_and_answers_match_them(
    gateway: tuple[httpx.Client, Settings],
) -> None:
    client, _ = gateway
    spec = client.get("/openapi.json").json()
    routes = (("/v1/churn/predict", "ChurnPrediction"), ("/v1/churn/predict/batch", "ChurnBatchResponse"))
    for path, model in routes:
        ok = spec["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": f"#/components/schemas/{model}"}
    assert spec["components"]["schemas"]["ChurnPrediction"]["properties"]["churn_probability"]["maximum"] == 1
    # Real answers validate against the published schemas (refs resolved inside the OpenAPI document).
    one = client.post("/v1/churn/predict", json={**GOOD, "customer_id": "c-1"}, headers=ACME)
    batch = client.post("/v1/churn/predict/batch", json={"instances": [GOOD, GOOD]}, headers=ACME)
    for answer, model in ((one, "ChurnPrediction"), (batch, "ChurnBatchResponse")):
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
        document = {"$ref": f"#/components/schemas/{model}", "components": spec["components"]}
        jsonschema.validate(answer.json(), document)
    assert one.json()["customer_id"] == "c-1" and len(batch.json()["predictions"]) == 2
