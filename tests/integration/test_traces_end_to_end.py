"""One trace end to end, at a real OTLP backend: a churn request and a streamed LLM request through the
running gateway, with the client's traceparent honoured, the simulator's own span in the same trace, the
trace id in the response header and the prediction log, and trace-id exemplars on /metrics."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pyarrow.dataset as ds
import pytest

from adapters.vllm.sim.config import SimConfig
from gateway.settings import Settings
from support.conftest_helpers import ACME_KEY
from support.llm_stack import MODEL, llm_stack
from support.otlp_backend import Backend

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHURN = {
    "tenure_months": 2,
    "monthly_charges": 99.0,
    "total_charges": 198.0,
    "support_tickets": 4,
    "contract_type": "month-to-month",
    "payment_method": "electronic_check",
    "internet_service": "fiber_optic",
}


def _by_name(spans: list[dict]) -> dict[str, dict]:
    return {s["name"]: s for s in spans}


def test_churn_and_streamed_llm_requests_leave_one_trace_each(
    make_settings: Callable[..., Settings], otlp_backend: Backend
) -> None:
    endpoint = otlp_backend.otlp_http_endpoint
    sim = SimConfig(ttft_ms=2, itl_ms=1, tokens=6, seed=1, otlp_traces_endpoint=otlp_backend.traces_url)
    tracing = {"enabled": True, "endpoint": endpoint, "sample_ratio": 1.0, "capture_content": True}
    with llm_stack(make_settings, sim=sim, tracing=tracing) as stack:
        auth = {"Authorization": f"Bearer {ACME_KEY}"}
        client_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        r = httpx.post(
            f"{stack.gateway_url}/v1/churn/predict",
            json={**CHURN, "customer_id": "c-trace"},
            headers={**auth, "traceparent": f"00-{client_trace}-00f067aa0ba902b7-01"},
        )
        assert r.status_code == 200 and r.headers["x-trace-id"] == client_trace

        with httpx.stream(
            "POST",
            f"{stack.gateway_url}/v1/chat/completions",
            json={
                "model": MODEL,
                "stream": True,
                "max_tokens": 6,
                "messages": [{"role": "user", "content": "mail me at jane@example.com"}],
            },
            headers=auth,
        ) as stream:
            llm_trace = stream.headers["x-trace-id"]
            body = "".join(stream.iter_text())
        assert "[DONE]" in body

        churn_spans = _by_name(otlp_backend.find_spans(client_trace, min_count=2))
        server, inference = churn_spans["POST /v1/churn/predict"], churn_spans["churn.predict"]
        assert server["parent_span_id"] == "00f067aa0ba902b7"  # the client's span is the parent
        assert inference["parent_span_id"] == server["span_id"]
        assert server["attributes"]["http.route"] == "/v1/churn/predict"
        assert server["attributes"]["modelgate.tenant"] == "acme"
        assert inference["attributes"]["modelgate.model.version"].startswith("churn-")
        assert inference["attributes"]["modelgate.churn.prediction"] in ("churn", "no_churn")

        llm_spans = _by_name(otlp_backend.find_spans(llm_trace, min_count=3, timeout=30))
        gw_server = llm_spans["POST /v1/chat/completions"]
        client_span = llm_spans[f"chat {MODEL}"]
        sim_span = next(
            s for name, s in llm_spans.items() if name not in ("POST /v1/chat/completions", f"chat {MODEL}")
        )
        assert client_span["parent_span_id"] == gw_server["span_id"]
        assert sim_span["parent_span_id"] == client_span["span_id"]  # vLLM's span joined the same trace
        attrs = client_span["attributes"]
        assert attrs["gen_ai.operation.name"] == "chat" and attrs["gen_ai.provider.name"] == "vllm"
        assert attrs["gen_ai.request.model"] == MODEL and attrs["gen_ai.request.max_tokens"] == 6
        assert attrs["gen_ai.usage.output_tokens"] == 6 and attrs["gen_ai.usage.input_tokens"] > 0
        assert list(attrs["gen_ai.response.finish_reasons"]) == ["stop"]  # 6 tokens asked, 6 generated
        assert attrs["gen_ai.usage.cost"] > 0 and attrs["gen_ai.response.time_to_first_chunk"] > 0
        assert "jane@example.com" not in str(attrs["gen_ai.input.messages"])  # captured, and redacted

        # the trace id reached the prediction log row, and the latency histogram's exemplars
        deadline = time.monotonic() + 10
        rows: list[dict] = []
        while time.monotonic() < deadline and not rows:
            try:
                table = ds.dataset(
                    stack.settings.prediction_log_uri, format="parquet", partitioning="hive"
                ).to_table()
                rows = [row for row in table.to_pylist() if row["customer_id"] == "c-trace"]
            except (FileNotFoundError, OSError):
                pass
            time.sleep(0.1)
        assert rows and rows[0]["trace_id"] == client_trace
        metrics = httpx.get(
            f"{stack.gateway_url}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        ).text
        exemplar_lines = [
            line
            for line in metrics.splitlines()
            if line.startswith("modelgate_request_duration_seconds_bucket") and "# {" in line
        ]
        assert any(client_trace in line for line in exemplar_lines)
