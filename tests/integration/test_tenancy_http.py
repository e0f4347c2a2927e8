"""Tenancy over real HTTP on one gateway (uvicorn thread, SQLite store) with the simulator and the official
openai client: the admin API, key scopes, expiry, revocation, rate-limit refusals and headers, metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

from gateway.auth import hash_key
from gateway.settings import Settings
from gateway.tenancy.records import issue_key
from gateway.tenancy.sqlite_store import SqliteTenantStore
from support.conftest_helpers import ACME_KEY, CHURN_CUSTOMER, metric_samples
from support.llm_stack import MODEL, LLMStack, llm_stack

pytestmark = pytest.mark.integration

ADMIN_KEY = "mg-admin-test-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
CHURN_ROW = CHURN_CUSTOMER


@pytest.fixture
def stack(make_settings: Callable[..., Settings]) -> Iterator[LLMStack]:
    with llm_stack(make_settings, admin={"key_sha256": [hash_key(ADMIN_KEY)]}) as s:
        yield s


def _wait(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _chat(base: str, key: str, model: str = MODEL, max_tokens: int = 8) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )


def _error(r: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = r.json()["error"]
    return body


def test_admin_api_is_guarded_and_openai_shaped(stack: LLMStack) -> None:
    base = stack.gateway_url
    r = httpx.get(f"{base}/admin/v1/tenants")
    assert r.status_code == 401 and _error(r)["code"] == "invalid_api_key"
    r = httpx.get(f"{base}/admin/v1/tenants", headers={"Authorization": f"Bearer {ACME_KEY}"})
    assert r.status_code == 403 and _error(r)["code"] == "admin_key_required"
    r = httpx.get(f"{base}/admin/v1/tenants", headers=ADMIN)
    assert r.status_code == 200
    assert {t["name"] for t in r.json()["data"]} >= {"acme", "globex"}  # imported from the config
    acme = next(t for t in r.json()["data"] if t["name"] == "acme")
    assert acme["source"] == "config" and acme["keys"][0]["id"] == "cfg-acme"

    r = httpx.post(f"{base}/admin/v1/tenants", json={"name": "initech", "rpm": 0}, headers=ADMIN)
    assert r.status_code == 422 and _error(r)["param"] == "rpm"
    r = httpx.post(f"{base}/admin/v1/tenants", json={"name": "Bad Name"}, headers=ADMIN)
    assert r.status_code == 422 and _error(r)["param"] == "name"
    r = httpx.post(f"{base}/admin/v1/tenants", json={"name": "initech", "colour": "red"}, headers=ADMIN)
    assert r.status_code == 422 and _error(r)["param"] == "colour"
    r = httpx.post(f"{base}/admin/v1/tenants", json={"name": "initech", "daily_usd": 2.5}, headers=ADMIN)
    assert r.status_code == 201 and r.json()["daily_usd"] == 2.5
    r = httpx.post(f"{base}/admin/v1/tenants", json={"name": "initech"}, headers=ADMIN)
    assert r.status_code == 409 and _error(r)["code"] == "already_exists"
    assert httpx.get(f"{base}/admin/v1/tenants/nobody", headers=ADMIN).status_code == 404
    r = httpx.post(f"{base}/admin/v1/tenants/nobody/keys", json={}, headers=ADMIN)
    assert r.status_code == 404
    assert httpx.delete(f"{base}/admin/v1/keys/key_nope", headers=ADMIN).status_code == 404
    r = httpx.post(
        f"{base}/admin/v1/tenants/initech/keys", json={"expires_at": "2001-01-01T00:00:00Z"}, headers=ADMIN
    )
    assert r.status_code == 422 and _error(r)["param"] == "expires_at"
    r = httpx.post(f"{base}/admin/v1/tenants/initech/keys", json={"models": ["gpt-nope"]}, headers=ADMIN)
    assert r.status_code == 422 and _error(r)["param"] == "models[0]"
    # Strict bodies, as on the model routes: a lone surrogate or a repeated key is a 400 naming it.
    json_ = {**ADMIN, "content-type": "application/json"}
    r = httpx.post(f"{base}/admin/v1/tenants/initech/keys", content=b'{"name": "x\\udc00"}', headers=json_)
    assert r.status_code == 400 and _error(r)["param"] == "name"
    r = httpx.post(f"{base}/admin/v1/tenants", content=b'{"name": "a", "name": "b"}', headers=json_)
    assert r.status_code == 400 and "duplicate key 'name'" in _error(r)["message"]

    r = httpx.patch(f"{base}/admin/v1/tenants/initech", json={"rpm": 100, "daily_usd": None}, headers=ADMIN)
    assert r.status_code == 200 and (r.json()["rpm"], r.json()["daily_usd"]) == (100, None)
    r = httpx.get(f"{base}/admin/v1/tenants/initech", headers=ADMIN)
    assert r.json()["spend"]["day"]["spent_usd"] == 0.0 and r.json()["rpm"] == 100
    assert httpx.delete(f"{base}/admin/v1/tenants/initech", headers=ADMIN).status_code == 204
    assert httpx.get(f"{base}/admin/v1/tenants/initech", headers=ADMIN).status_code == 404

    spec = httpx.get(f"{base}/openapi.json").json()
    assert {"/admin/v1/tenants", "/admin/v1/tenants/{name}", "/admin/v1/tenants/{name}/keys"} <= set(
        spec["paths"]
    )
    assert "/admin/v1/keys/{key_id}" in spec["paths"]


def test_scoped_keys_expiry_revocation_and_metrics(stack: LLMStack) -> None:
    base = stack.gateway_url
    assert httpx.post(f"{base}/admin/v1/tenants", json={"name": "initech"}, headers=ADMIN).status_code == 201
    r = httpx.post(
        f"{base}/admin/v1/tenants/initech/keys",
        json={"name": "bot", "lanes": ["llm"], "models": [MODEL], "expires_at": int(time.time()) + 3600},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    key = created["key"]
    assert created["lanes"] == ["llm"] and created["models"] == [MODEL] and "key_sha256" not in created
    listed = httpx.get(f"{base}/admin/v1/tenants/initech", headers=ADMIN).json()
    assert key not in str(listed) and listed["keys"][0]["id"] == created["id"]

    client = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
    out = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=8
    )
    assert out.choices[0].message.content
    with pytest.raises(openai.PermissionDeniedError) as denied:
        client.chat.completions.create(model="other-model", messages=[{"role": "user", "content": "x"}])
    assert denied.value.code == "model_not_allowed"
    r = httpx.post(f"{base}/v1/churn/predict", json=CHURN_ROW, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 403 and _error(r)["code"] == "lane_not_allowed"

    # A key whose expiry has passed (written straight into the store, as time would make it).
    async def add_expired() -> str:
        store = SqliteTenantStore(stack.settings.tenant_store_path)
        try:
            plain, record = issue_key("initech", now=time.time() - 10, expires_at=time.time() - 1)
            await store.add_key(record)
            return plain
        finally:
            await store.close()

    expired = asyncio.run(add_expired())
    # (until the directory reloads it is an unknown key: 401 either way, the reason changes)
    _wait(lambda: _error(_chat(base, expired))["message"] == "invalid API key: this key has expired")
    assert _chat(base, expired).status_code == 401

    assert httpx.delete(f"{base}/admin/v1/keys/{created['id']}", headers=ADMIN).status_code == 204
    with pytest.raises(openai.AuthenticationError) as revoked:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert revoked.value.code == "invalid_api_key"

    samples = metric_samples(httpx.get(f"{base}/metrics").text)
    failures = {
        dict(k[1])["reason"]: v for k, v in samples.items() if k[0] == "modelgate_auth_failures_total"
    }
    assert failures["model_not_allowed"] == 1 and failures["lane_not_allowed"] == 1
    assert failures["revoked"] == 1 and failures["expired"] >= 1
    assert not any(key in str(k) for k in samples)


def test_rpm_and_tpm_refusals_carry_retry_after_and_openai_headers(stack: LLMStack) -> None:
    base = stack.gateway_url
    body = {"name": "initech", "rpm": 3, "tpm": 100_000}
    assert httpx.post(f"{base}/admin/v1/tenants", json=body, headers=ADMIN).status_code == 201
    key = httpx.post(f"{base}/admin/v1/tenants/initech/keys", json={}, headers=ADMIN).json()["key"]
    first = _chat(base, key)
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit-requests"] == "3"
    assert first.headers["x-ratelimit-remaining-requests"] == "2"
    assert first.headers["x-ratelimit-limit-tokens"] == "100000"
    assert int(first.headers["x-ratelimit-remaining-tokens"]) < 100_000
    stream = httpx.post(
        f"{base}/v1/chat/completions",
        json={
            "model": MODEL,
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 8,
            "stream": True,
        },
        headers={"Authorization": f"Bearer {key}"},
    )
    assert stream.status_code == 200 and stream.headers["x-ratelimit-remaining-requests"] == "1"
    assert _chat(base, key).status_code == 200
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=8
        )
    err = limited.value
    assert err.code == "rate_limit_exceeded" and err.type == "requests"
    assert 1 <= int(err.response.headers["retry-after"]) <= 60
    assert err.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert "x-should-retry" not in err.response.headers  # retrying after Retry-After is right here
    # a tenant without limits gets no x-ratelimit headers
    assert "x-ratelimit-limit-requests" not in _chat(base, ACME_KEY).headers

    # one request bigger than the whole tpm can never pass: told not to retry
    httpx.patch(f"{base}/admin/v1/tenants/initech", json={"rpm": None, "tpm": 500}, headers=ADMIN)
    r = _chat(base, key, max_tokens=1000)
    assert r.status_code == 429 and r.headers["x-should-retry"] == "false" and _error(r)["type"] == "tokens"
    samples = metric_samples(httpx.get(f"{base}/metrics").text)
    assert samples[("modelgate_rate_limited_total", (("limit", "rpm"), ("tenant", "initech")))] == 1
    assert samples[("modelgate_rate_limited_total", (("limit", "tpm"), ("tenant", "initech")))] == 1


def test_cli_changes_reach_the_running_gateway(
    stack: LLMStack, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """`modelgate tenants …` in another "process" (here: the CLI's own store handle) on the same store."""
    from gateway.cli import main

    cfg = tmp_path_factory.mktemp("cli") / "modelgate.yaml"
    cfg.write_text(f"data_dir: {stack.settings.data_dir}\n")
    base = stack.gateway_url
    assert main(["tenants", "add", "wayne", "--rpm", "100", "--config", str(cfg)]) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]
    _wait(lambda: _chat(base, key).status_code == 200, timeout=1.0)
    assert _chat(base, key).headers["x-ratelimit-limit-requests"] == "100"
    assert main(["tenants", "set", "wayne", "--rpm", "7", "--config", str(cfg)]) == 0
    _wait(lambda: _chat(base, key).headers.get("x-ratelimit-limit-requests") == "7", timeout=1.0)
    key_id = httpx.get(f"{base}/admin/v1/tenants/wayne", headers=ADMIN).json()["keys"][0]["id"]
    assert main(["tenants", "revoke-key", key_id, "--config", str(cfg)]) == 0
    _wait(lambda: _chat(base, key).status_code == 401, timeout=1.0)
