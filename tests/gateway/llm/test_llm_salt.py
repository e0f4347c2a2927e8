"""Per-tenant cache_salt: stable per tenant, different across tenants, keyed by the secret, and reaching
the upstream in the forwarded body (a recording upstream on loopback stands in for vLLM here)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from conftest_helpers import ACME_KEY, GLOBEX_KEY
from servers import uvicorn_thread

from gateway.app import create_app
from gateway.llm.salt import tenant_cache_salt
from gateway.settings import LLMSettings, Settings

ON = LLMSettings(tenant_cache_salt=True, cache_salt_secret="s3cret-for-tests-only")


def test_salts_separate_tenants_and_depend_on_the_secret() -> None:
    acme, globex = tenant_cache_salt(ON, "acme", {}), tenant_cache_salt(ON, "globex", {})
    assert acme and globex and acme != globex and len(acme) == 43
    assert tenant_cache_salt(ON, "acme", {}) == acme  # stable: the tenant's own cache entries are reused
    other = ON.model_copy(update={"cache_salt_secret": "another-secret-value"})
    assert tenant_cache_salt(other, "acme", {}) != acme
    # a client's own salt partitions further, but never lands on another tenant's salt
    assert tenant_cache_salt(ON, "acme", {"cache_salt": "x"}) not in (acme, globex)
    assert tenant_cache_salt(LLMSettings(), "acme", {"cache_salt": "x"}) is None  # off: the body's own


def _recording_upstream(seen: list[dict[str, Any]]) -> Any:
    answer = json.dumps(
        {
            "id": "cmpl-1",
            "object": "chat.completion",
            "model": "m",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        }
    ).encode()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"].endswith("/chat/completions"):
            headers = dict(scope["headers"])
            seen.append({**json.loads(body), "_x_request_id": headers.get(b"x-request-id", b"").decode()})
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    return app


def test_every_tenant_request_carries_its_salt_upstream(make_settings: Callable[..., Settings]) -> None:
    seen: list[dict[str, Any]] = []
    with uvicorn_thread(_recording_upstream(seen), ready_path="/health") as upstream:
        llm = {
            "upstream_url": f"{upstream}/v1",
            "models": ["m"],
            "prices": {"m": {"input_per_mtok": 1.0, "output_per_mtok": 1.0}},
            "tenant_cache_salt": True,
            "cache_salt_secret": "s3cret-for-tests-only",
        }
        with uvicorn_thread(create_app(make_settings(llm=llm))) as gateway:
            for key in (ACME_KEY, GLOBEX_KEY, ACME_KEY):
                r = httpx.post(
                    f"{gateway}/v1/chat/completions",
                    json={"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2},
                    headers={"Authorization": f"Bearer {key}", "x-request-id": "client-chosen-id-1"},
                )
                assert r.status_code == 200
    salts = [body["cache_salt"] for body in seen]
    assert salts[0] == salts[2] != salts[1]
    assert salts[0] == tenant_cache_salt(ON, "acme", {})
    # the client's request id is never the upstream's
    assert all("request_id" not in body for body in seen)
    assert all(body["_x_request_id"] and body["_x_request_id"] != "client-chosen-id-1" for body in seen)
