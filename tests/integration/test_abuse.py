"""Faults and abuse against the real gateway on 127.0.0.1: hostile clients, a hostile upstream, anonymous
scrapers. Each case names the point of issue 12 it proves.

The gateway runs under uvicorn in a thread with the options `modelgate serve` applies
(gateway.http_server.uvicorn_options); upstreams are the vLLM simulator or tests/integration/
support/hostile_upstream.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.dataset as ds
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily

from adapters.vllm.sim.config import SimConfig
from gateway.app import create_app
from gateway.http_server import uvicorn_options
from gateway.settings import Settings
from gateway.tracing import content as content_module
from gateway.tracing.config import TracingConfig
from gateway.tracing.setup import setup_tracing
from monitoring.stack.processes import free_port
from support.conftest_helpers import ACME_KEY, DEV_KEY
from support.hostile_upstream import MODELS, Counter, HostileUpstream
from support.llm_stack import llm_stack
from support.servers import uvicorn_thread

pytestmark = pytest.mark.integration

DEV = {"Authorization": f"Bearer {DEV_KEY}"}
ACME = {"Authorization": f"Bearer {ACME_KEY}"}
CHURN = {
    "tenure_months": 3,
    "monthly_charges": 95.5,
    "total_charges": 290.0,
    "support_tickets": 2,
    "contract_type": "month-to-month",
    "payment_method": "electronic_check",
    "internet_service": "fiber_optic",
}


@contextlib.contextmanager
def gateway(settings: Settings, **app_kwargs: Any) -> Iterator[str]:
    with uvicorn_thread(create_app(settings, **app_kwargs), **uvicorn_options(settings.server)) as url:
        yield url


def _raw(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.settimeout(10)
    return sock


def _read_until_closed(sock: socket.socket, limit_s: float) -> bytes:
    """Everything the server sends until it closes the connection (or `limit_s` passes)."""
    out = b""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not data:
            break
        out += data
    return out


# --- point 6: request ids ----------------------------------------------------------------------------


def test_request_ids_are_random_and_a_client_id_is_kept_apart(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    with gateway(settings) as url, httpx.Client(base_url=url, timeout=10) as client:
        ids = []
        for _ in range(20):
            r = client.post("/v1/churn/predict", json=CHURN, headers={**ACME, "x-request-id": "claimed-id-1"})
            assert r.status_code == 200
            ids.append(r.headers["x-request-id"])
            assert r.json()["request_id"] == r.headers["x-request-id"]
        # 128 random bits, hex; never the client's claimed id, never repeated.
        assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
        assert "claimed-id-1" not in ids and len(set(ids)) == len(ids)
        # Ids share no counter-like prefix: the first 12 hex digits (48 bits) already differ.
        assert len({i[:12] for i in ids}) == len(ids)
    time.sleep(0.5)  # the log writer flushes every 0.2 s; the app closed, so it flushed on shutdown anyway
    table = ds.dataset(settings.prediction_log_uri, format="parquet", partitioning="hive").to_table()
    assert sorted(table.column("request_id").to_pylist()) == sorted(ids)
    assert set(table.column("client_request_id").to_pylist()) == {"claimed-id-1"}


def test_the_upstream_never_gets_the_clients_request_id(make_settings: Callable[..., Settings]) -> None:
    hostile = HostileUpstream()
    with uvicorn_thread(hostile) as up:
        settings = make_settings(
            llm={"upstream_url": f"{up}/v1", "models": MODELS, "billing": False},
        )
        with gateway(settings) as url:
            r = httpx.post(
                f"{url}/v1/chat/completions",
                json={"model": "ok", "messages": [{"role": "user", "content": "hi"}]},
                headers={**DEV, "x-request-id": "client-chosen", "x-client-request-id": "client-chosen"},
                timeout=10,
            )
    assert r.status_code == 200
    forwarded = hostile.seen_headers[-1]
    assert forwarded["x-request-id"] == r.headers["x-request-id"] != "client-chosen"
    assert "client-chosen" not in json.dumps(forwarded)


# --- point 4: a bounded upstream ---------------------------------------------------------------------


@pytest.fixture
def hostile_gateway(make_settings: Callable[..., Settings]) -> Iterator[tuple[str, HostileUpstream, Counter]]:
    counter = Counter()
    with uvicorn_thread(counter) as target:
        hostile = HostileUpstream(redirect_target=f"{target}/v1/chat/completions")
        # A stalled upstream's handlers never end: give its shutdown a short grace period.
        with uvicorn_thread(hostile, timeout_graceful_shutdown=1) as up:
            settings = make_settings(
                llm={
                    "upstream_url": f"{up}/v1",
                    "models": MODELS,
                    "billing": False,
                    "first_byte_timeout_s": 0.5,
                    "chunk_timeout_s": 0.5,
                    "total_timeout_s": 2.0,
                    "max_sse_line_bytes": 65536,
                    "max_sse_event_bytes": 262144,
                    "max_response_bytes": 1_048_576,
                }
            )
            with gateway(settings) as url:
                yield url, hostile, counter


def _chat(url: str, model: str, *, stream: bool) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=DEV, timeout=15)


def _upstream_errors(url: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith("modelgate_llm_upstream_errors_total{"):
            kind = line.split('error_type="', 1)[1].split('"', 1)[0]
            out[kind] = out.get(kind, 0) + float(line.rsplit(" ", 1)[1])
    return out


def test_redirects_are_never_followed(hostile_gateway: tuple[str, HostileUpstream, Counter]) -> None:
    url, _, counter = hostile_gateway
    for stream in (False, True):
        r = _chat(url, "redirect", stream=stream)
        assert r.status_code == 502, r.text
        assert "redirect" in r.json()["error"]["message"]
    assert counter.hits == 0  # the prompt was never re-posted to where the 307 pointed
    assert _upstream_errors(url).get("redirect") == 2


@pytest.mark.parametrize(
    ("model", "stream", "status", "kind"),
    [
        ("huge-body", False, 502, "too_large"),
        # The first line is read before the client's header goes out (a failure there can still be
        # retried on another replica), so an endless first line is a clean 502, not a broken stream.
        ("huge-first-line", True, 502, "too_large"),
        ("stall-first", False, 504, "first_byte_timeout"),
        ("stall-first", True, 504, "first_byte_timeout"),
    ],
)
def test_an_upstream_that_answers_too_much_or_nothing_is_cut_off(
    hostile_gateway: tuple[str, HostileUpstream, Counter], model: str, stream: bool, status: int, kind: str
) -> None:
    url, _, _ = hostile_gateway
    started = time.monotonic()
    r = _chat(url, model, stream=stream)
    assert r.status_code == status, r.text
    assert time.monotonic() - started < 10  # bounded by the configured deadlines, not by the upstream
    errors = _upstream_errors(url)
    # A stream's opening is also timed by the route itself (gateway/llm/routes.py), which may win the race.
    assert errors.get(kind, 0) + (errors.get("timeout", 0) if stream else 0) >= 1, errors


@pytest.mark.parametrize(
    ("model", "kind"),
    [("huge-line", "too_large"), ("huge-event", "too_large"), ("stall-mid", "chunk_timeout"),
     ("forever", "total_timeout")],
)  # fmt: skip
def test_a_stream_that_breaks_its_limits_ends_with_an_error_event(
    hostile_gateway: tuple[str, HostileUpstream, Counter], model: str, kind: str
) -> None:
    url, _, _ = hostile_gateway
    started = time.monotonic()
    r = _chat(url, model, stream=True)
    assert r.status_code == 200  # the header went out before the upstream misbehaved
    events = [line for line in r.text.splitlines() if line.startswith("data: {")]
    last = json.loads(events[-1][len("data: ") :])
    assert "error" in last, r.text[-500:]
    assert time.monotonic() - started < 10
    errors = _upstream_errors(url)
    # The relay's own total deadline may win the race against the client's for a never-ending stream.
    assert errors.get(kind, 0) + (errors.get("timeout", 0) if kind == "total_timeout" else 0) >= 1, errors


# --- point 5: operational endpoints ------------------------------------------------------------------


def test_metrics_on_their_own_listener_and_not_on_the_api_port(
    make_settings: Callable[..., Settings],
) -> None:
    port = free_port()
    settings = make_settings(server={"metrics_port": port, "docs_enabled": False})
    with gateway(settings) as url:
        assert httpx.post(f"{url}/v1/churn/predict", json=CHURN, headers=ACME, timeout=10).status_code == 200
        assert httpx.get(f"{url}/metrics", timeout=10).status_code == 404
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert scraped.status_code == 200 and 'route="/v1/churn/predict"' in scraped.text
        assert httpx.get(f"http://127.0.0.1:{port}/v1/budget", headers=ACME, timeout=10).status_code == 404
        # /docs and the OpenAPI document are off.
        assert httpx.get(f"{url}/docs", timeout=10).status_code == 404
        assert httpx.get(f"{url}/openapi.json", timeout=10).status_code == 404


def test_metrics_behind_a_bearer_token(make_settings: Callable[..., Settings]) -> None:
    token = "scrape-token-0123456789"
    settings = make_settings(server={"metrics_token_sha256": hashlib.sha256(token.encode()).hexdigest()})
    with gateway(settings) as url:
        anonymous = httpx.get(f"{url}/metrics", timeout=10)
        assert anonymous.status_code == 401 and "tenant" not in anonymous.text
        assert (
            httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer wrong"}, timeout=10).status_code
            == 401
        )
        ok = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert ok.status_code == 200 and "modelgate_requests_total" in ok.text


def test_readyz_names_what_is_not_ready_without_paths(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    secret_dir = tmp_path / "very-secret-folder"
    settings = make_settings(churn={"artifact_dir": str(secret_dir)})
    with gateway(settings) as url:
        r = httpx.get(f"{url}/readyz", timeout=10)
        churn = httpx.post(f"{url}/v1/churn/predict", json=CHURN, headers=ACME, timeout=10)
    assert r.status_code == 503
    body = r.json()
    assert body["not_ready"] == ["churn_model"]
    assert body["checks"]["churn_model"]["reason"] == "artifact_missing"
    for text in (r.text, churn.text):
        assert "very-secret-folder" not in text and "Error" not in text and "/" not in text.replace("\\/", "")


class _SlowCollector:
    """A collector that blocks, as a job-results folder on a slow disk does."""

    def __init__(self) -> None:
        self.entered = threading.Event()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        self.entered.set()
        time.sleep(1.5)
        yield GaugeMetricFamily("slow_collector_value", "a slow read", value=1.0)


def test_a_slow_scrape_does_not_stall_the_api(make_settings: Callable[..., Settings]) -> None:
    registry = CollectorRegistry()
    slow = _SlowCollector()
    registry.register(slow)  # type: ignore[arg-type]
    with gateway(make_settings(), registry=registry) as url:
        finished: dict[str, float] = {}

        def scrape() -> None:
            httpx.get(f"{url}/metrics", timeout=30)
            finished["scrape"] = time.monotonic()

        thread = threading.Thread(target=scrape)
        thread.start()
        assert slow.entered.wait(10)
        r = httpx.post(f"{url}/v1/churn/predict", json=CHURN, headers=ACME, timeout=30)
        finished["api"] = time.monotonic()
        thread.join(30)
    assert r.status_code == 200
    assert finished["api"] < finished["scrape"]  # served while the scrape was still blocked


# --- point 3: redaction ------------------------------------------------------------------------------


def test_a_megabyte_pathological_prompt_is_redacted_off_the_loop_and_bounded(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, bool]] = []
    real = content_module.redact_text

    def recording(text: str) -> str:
        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        calls.append((len(text), on_loop))
        return real(text)

    monkeypatch.setattr(content_module, "redact_text", recording)
    exporter = InMemorySpanExporter()
    tracing = setup_tracing(
        TracingConfig(enabled=True, capture_content=True, redact=True, sample_ratio=1.0),
        service_version="test",
        exporter=exporter,
        environ={},
    )
    # The worst input the old pattern knew (a run of '%' with no '@'), and an address at the start.
    prompt = "mail jane@example.com " + "%" * (1 << 20)
    sim = SimConfig(ttft_ms=1, itl_ms=1, tokens=4, seed=1, max_model_len=4_000_000)
    with llm_stack(make_settings, sim=sim, server={"max_body_bytes": 4 << 20}, tracing_obj=tracing) as stack:
        big_done: dict[str, float] = {}
        client = httpx.Client(base_url=stack.gateway_url, headers=DEV, timeout=60)

        def big() -> None:
            r = client.post(
                "/v1/completions", json={"model": "sim-llama-3-8b", "prompt": prompt, "max_tokens": 4}
            )
            assert r.status_code == 200, r.text
            big_done["t"] = time.monotonic()

        thread = threading.Thread(target=big)
        thread.start()
        probes = 0
        with httpx.Client(base_url=stack.gateway_url, timeout=30) as probe:
            while thread.is_alive() and probes < 200:
                assert probe.get("/healthz").status_code == 200
                probes += 1
        thread.join(60)
        client.close()
    assert "t" in big_done
    redacted = sum(n for n, _ in calls)
    # The prompt's redaction ran in a worker thread; only small text (the 4-token reply) on the loop.
    assert any(n >= content_module.OFF_LOOP_CHARS for n, _ in calls)
    assert all(not on_loop for n, on_loop in calls if n >= content_module.OFF_LOOP_CHARS)
    assert redacted <= content_module.MAX_CONTENT_CHARS + 1024  # a bounded prefix, not the megabyte
    spans = [s for s in exporter.get_finished_spans() if s.name.startswith("text_completion")]
    captured = spans[-1].attributes["gen_ai.input.messages"]
    assert "[EMAIL]" in captured and "jane@example.com" not in captured and "…[truncated]" in captured


# --- point 8: slow and greedy clients ----------------------------------------------------------------


def test_a_slowloris_body_gets_408_within_the_timeout(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(server={"body_read_timeout_s": 1.0})
    with gateway(settings) as url:
        port = int(url.rsplit(":", 1)[1])
        sock = _raw(port)
        sock.sendall(
            b"POST /v1/churn/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + ACME_KEY.encode() + b"\r\nContent-Length: 400\r\n\r\n{"
        )
        started = time.monotonic()
        answer = b""
        for _ in range(8):  # a byte a second, far slower than the deadline allows
            try:
                sock.sendall(b" ")
            except OSError:
                break
            sock.settimeout(1.0)
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            answer += data
            break
        answer += _read_until_closed(sock, 5)
        elapsed = time.monotonic() - started
        sock.close()
        # Still serving everyone else.
        assert httpx.post(f"{url}/v1/churn/predict", json=CHURN, headers=ACME, timeout=10).status_code == 200
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert elapsed < 6


def test_slow_headers_and_idle_connections_are_closed(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(server={"header_read_timeout_s": 1.0, "keep_alive_timeout_s": 1.0})
    with gateway(settings) as url:
        port = int(url.rsplit(":", 1)[1])
        # Headers that never finish.
        slow = _raw(port)
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        assert _read_until_closed(slow, 8) == b""
        assert time.monotonic() - started < 6
        # A connection that never sends anything.
        idle = _raw(port)
        started = time.monotonic()
        assert _read_until_closed(idle, 8) == b""
        assert time.monotonic() - started < 6
        # A kept-alive connection after one request.
        kept = _raw(port)
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = kept.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert _read_until_closed(kept, 8) == b""
        assert time.monotonic() - started < 6
        for s in (slow, idle, kept):
            s.close()


def test_beyond_the_connection_limit_requests_get_503(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(server={"max_connections": 4, "header_read_timeout_s": 30.0})
    with gateway(settings) as url:
        port = int(url.rsplit(":", 1)[1])
        held = [_raw(port) for _ in range(4)]
        time.sleep(0.2)
        extra = _raw(port)
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = _read_until_closed(extra, 5)
        for s in [*held, extra]:
            s.close()
        time.sleep(0.3)
        after = httpx.get(f"{url}/healthz", timeout=10)
    assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
    assert after.status_code == 200  # freed connections are usable again


# --- point 2: hostile bodies on the non-LLM routes ---------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "status", "needle"),
    [
        (b'{"tenure_months": 3, "tenure_months": 4}', "application/json", 400, "duplicate key"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "nested deeper"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "application/json", 400, "nested deeper"),
        (b'{"tenure_months": "\xff\xfe"}', "application/json", 400, "not UTF-8"),
        (
            b'{"tenure_months": 3, "customer_id": "\\udc00"}',
            "application/json",
            400,
            "customer_id: a \\u escape",
        ),
        (json.dumps(CHURN).encode(), "text/plain", 415, "content-type"),
        (json.dumps(CHURN).encode(), "application/x-www-form-urlencoded", 415, "content-type"),
        (b'{"tenure_months": ' + b"9" * 5000 + b"}", "application/json", 400, "not valid JSON"),
        (b"{", "application/json", 400, "not valid JSON"),
    ],
)
def test_hostile_churn_bodies_get_a_4xx_naming_the_problem(
    make_settings: Callable[..., Settings], body: bytes, content_type: str, status: int, needle: str
) -> None:
    with gateway(make_settings()) as url:
        for path in ("/v1/churn/predict", "/v1/churn/predict/batch"):
            r = httpx.post(
                f"{url}{path}", content=body, headers={**ACME, "content-type": content_type}, timeout=10
            )
            assert r.status_code == status, r.text
            assert needle in r.json()["error"]["message"]


def test_budget_route_with_hostile_headers_never_500s(make_settings: Callable[..., Settings]) -> None:
    with llm_stack(make_settings) as stack:
        for auth in ["", "Bearer", "Bearer " + "x" * 10000, "Basic Zm9vOmJhcg==", "Bearer \u00ff\u00fe"]:
            headers = {"Authorization": auth.encode("latin-1", "replace")}
            r = httpx.get(f"{stack.gateway_url}/v1/budget", headers=headers, timeout=10)
            assert r.status_code == 401, (auth[:20], r.status_code)
        r = httpx.get(
            f"{stack.gateway_url}/v1/budget?tenant=globex&x=" + "%ff" * 100, headers=ACME, timeout=10
        )
        assert r.status_code == 200 and r.json()["tenant"] == "acme"
