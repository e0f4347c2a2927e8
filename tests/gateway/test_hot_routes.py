"""The hot LLM routes served ahead of FastAPI's router (gateway/hot_routes.py): the same answers, labels
and errors as through the router, for the routes taken and for everything that is not."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import gateway.app
from gateway.app import create_app
from gateway.errors import InvalidRequest, install_error_handlers
from gateway.hot_routes import HotRoutes
from gateway.settings import Settings
from support.conftest_helpers import ACME_KEY, CHURN_CUSTOMER, metric_samples
from support.llm_stack import MODEL, LLMStack, llm_stack
from support.servers import uvicorn_thread

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}


def _app(endpoint: Callable[[Request], object]) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    hot = Route("/hot", endpoint, methods=["POST"])  # type: ignore[arg-type]
    app.router.routes.append(hot)
    app.add_middleware(HotRoutes, routes=[hot])
    return app


def _post(app: FastAPI, method: str = "POST") -> httpx.Response:
    return asyncio.run(_request(app, method))


async def _request(app: FastAPI, method: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, "/hot")


def test_the_route_is_served_with_its_scope_filled_in_as_the_router_would() -> None:
    seen: dict[str, object] = {}

    async def endpoint(request: Request) -> Response:
        seen.update(route=request.scope["route"].path, params=request.path_params)
        return JSONResponse({"ok": True})

    response = _post(_app(endpoint))
    assert (response.status_code, response.json()) == (200, {"ok": True})
    assert seen == {"route": "/hot", "params": {}}


def test_a_gateway_error_gets_the_apps_own_answer_and_anything_else_a_plain_500() -> None:
    async def refuses(request: Request) -> Response:
        raise InvalidRequest("max_tokens: must be an integer", param="max_tokens")

    async def breaks(request: Request) -> Response:
        raise RuntimeError("a bug with a secret in its message")

    refused = _post(_app(refuses))
    assert refused.status_code == InvalidRequest.status == 422
    assert refused.json()["error"]["param"] == "max_tokens"
    broken = _post(_app(breaks))
    assert broken.status_code == 500
    assert broken.json()["error"]["code"] == "internal_error"
    assert "secret" not in broken.text


def test_another_method_goes_on_to_the_router() -> None:
    async def endpoint(request: Request) -> Response:
        return Response(b"served")

    response = _post(_app(endpoint), method="GET")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.fixture
def lane(make_settings: Callable[..., Settings]) -> Iterator[LLMStack]:
    with llm_stack(make_settings) as s:
        yield s


@pytest.mark.integration
def test_through_the_real_gateway_the_hot_routes_keep_their_labels_ids_and_errors(lane: LLMStack) -> None:
    auth = {"authorization": f"Bearer {ACME_KEY}"}
    with httpx.Client(base_url=lane.gateway_url, timeout=10) as client:
        ok = client.post("/v1/chat/completions", json=CHAT, headers=auth)
        assert ok.status_code == 200 and ok.json()["choices"]
        assert len(ok.headers["x-request-id"]) == 32
        bad = client.post("/v1/completions", json={"model": MODEL, "prompt": "hi", "n": "x"}, headers=auth)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "n"
        assert bad.headers["x-request-id"]
        wrong_method = client.get("/v1/chat/completions", headers=auth)
        assert wrong_method.status_code == 405
        metrics = metric_samples(client.get("/metrics").text)
    route = ("backend", "llm"), ("method", "POST"), ("route", "/v1/chat/completions"), ("status", "200")
    assert metrics[("modelgate_requests_total", route)] == 1
    bad_route = ("backend", "llm"), ("method", "POST"), ("route", "/v1/completions"), ("status", "400")
    assert metrics[("modelgate_requests_total", bad_route)] == 1


# Bodies that each stop at a different check of the churn route: content type, UTF-8, JSON, duplicate
# keys, depth, the key, the model's validation (types, ranges, categories, extra fields), and good ones.
_CHURN_GOOD = CHURN_CUSTOMER
_JSON = {"content-type": "application/json"}
_CHURN_CASES: list[tuple[str, bytes, dict[str, str], bool]] = [
    ("good", json.dumps(_CHURN_GOOD).encode(), _JSON, True),
    ("good with id", json.dumps({**_CHURN_GOOD, "customer_id": "c-9"}).encode(), _JSON, True),
    ("text/plain", json.dumps(_CHURN_GOOD).encode(), {"content-type": "text/plain"}, True),
    ("not utf-8", b'{"tenure_months": "\xff"}', _JSON, True),
    ("not json", b"{tenure_months: 4", _JSON, True),
    ("empty", b"", _JSON, True),
    ("duplicate key", b'{"tenure_months": 4, "tenure_months": 5}', _JSON, True),
    ("too deep", b'{"a":' * 40 + b"1" + b"}" * 40, _JSON, True),
    ("a list", b"[1, 2]", _JSON, True),
    ("string for int", json.dumps({**_CHURN_GOOD, "tenure_months": "4"}).encode(), _JSON, True),
    ("out of range", json.dumps({**_CHURN_GOOD, "monthly_charges": -1}).encode(), _JSON, True),
    ("unknown category", json.dumps({**_CHURN_GOOD, "contract_type": "weekly"}).encode(), _JSON, True),
    ("extra field", json.dumps({**_CHURN_GOOD, "plan": "gold"}).encode(), _JSON, True),
    ("missing field", json.dumps({"tenure_months": 4}).encode(), _JSON, True),
    ("bad key, good body", json.dumps(_CHURN_GOOD).encode(), _JSON, False),
    ("bad key, bad body", b"{nope", _JSON, False),
    ("bad key, invalid field", json.dumps({**_CHURN_GOOD, "tenure_months": "x"}).encode(), _JSON, False),
]


def _answers(settings: Settings) -> list[tuple[int, object]]:
    out: list[tuple[int, object]] = []
    with uvicorn_thread(create_app(settings)) as base, httpx.Client(base_url=base, timeout=10) as client:
        for _, body, headers, good_key in _CHURN_CASES:
            key = ACME_KEY if good_key else "mg-not-a-key-0123456789"
            r = client.post(
                "/v1/churn/predict", content=body, headers={**headers, "authorization": f"Bearer {key}"}
            )
            answer = r.json()
            if isinstance(answer, dict):
                answer.pop("request_id", None)
            out.append((r.status_code, answer))
    return out


@pytest.mark.integration
def test_churn_predict_answers_exactly_as_its_fastapi_route_does(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings()
    hot = _answers(settings)
    monkeypatch.setattr(gateway.app, "CHURN_HOT_ROUTES", [])  # the same app, churn through FastAPI's route
    routed = _answers(settings)
    for (name, *_), got, expected in zip(_CHURN_CASES, hot, routed, strict=True):
        assert got == expected, name
    assert {status for status, _ in hot} >= {200, 400, 401, 415, 422}
