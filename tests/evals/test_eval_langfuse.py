"""Langfuse export through the real `langfuse` SDK, received by a loopback HTTP server on 127.0.0.1.

A Langfuse server cannot run here, so a tiny receiver records what the SDK really sends: the OTLP
traces (protobuf, gzip) at /api/public/otel/v1/traces and the score batches at /api/public/scores.
"""

import base64
import gzip
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from adapters.vllm.sim.config import SimConfig
from adapters.vllm.sim.server import SimServer
from evals.cli import main
from evals.export import LangfuseSettings, export_to_langfuse, langfuse_settings
from evals.records import ItemResult, summarise_run
from evals.scorers import Outcome
from support.evals_helpers import MODEL


class Receiver:
    def __init__(self):
        self.requests = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                if self.path.startswith("/api/public/scores"):
                    self._reply(202, b'{"message": "Accepted"}', "application/json")
                else:
                    self._reply(200, b"", "application/x-protobuf")

            def do_GET(self):
                receiver.requests.append((self.path, dict(self.headers), b""))
                self._reply(200, b"{}", "application/json")

            def _reply(self, status, body, content_type):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def scores(self):
        return [
            s
            for path, _, body in self.requests
            if path.startswith("/api/public/scores")
            for s in json.loads(body)
        ]

    def spans(self):
        out = []
        for path, _, body in self.requests:
            if path == "/api/public/otel/v1/traces":
                msg = ExportTraceServiceRequest()
                msg.ParseFromString(body)
                out += [span for rs in msg.resource_spans for ss in rs.scope_spans for span in ss.spans]
        return out


def keys():
    # The SDK keeps one client per public key for the process: a fresh key per test keeps tests apart.
    return f"pk-{uuid.uuid4().hex[:8]}", "sk-test"


def test_settings_need_all_three_variables():
    assert langfuse_settings({"LANGFUSE_HOST": "h", "LANGFUSE_PUBLIC_KEY": "p"}) is None
    full = {"LANGFUSE_HOST": "http://h/", "LANGFUSE_PUBLIC_KEY": "p", "LANGFUSE_SECRET_KEY": "s"}
    assert langfuse_settings(full) == LangfuseSettings("http://h", "p", "s")


def test_langfuse_base_url_is_read_and_wins_over_the_older_host() -> None:
    keys = {"LANGFUSE_PUBLIC_KEY": "p", "LANGFUSE_SECRET_KEY": "s"}
    assert langfuse_settings({**keys, "LANGFUSE_BASE_URL": "http://new"}) == LangfuseSettings(
        "http://new", "p", "s"
    )
    both = {**keys, "LANGFUSE_BASE_URL": "http://new/", "LANGFUSE_HOST": "http://old"}
    assert langfuse_settings(both) == LangfuseSettings("http://new", "p", "s")


@pytest.mark.integration
def test_run_and_item_scores_arrive(tmp_path):
    results = [
        ItemResult(
            "q1", "q1#h", Outcome.PASS, 1.0, output="Paris", expected="Paris", input_tokens=9, output_tokens=2
        ),
        ItemResult("q2", "q2#h", Outcome.FAIL, 0.0, output="Rome", expected="Oslo", detail="got 'rome'"),
        ItemResult("q3", "q3#h", Outcome.ERROR, None, detail="HTTP 503"),
    ]
    record = summarise_run("run-1", "run", "core", "m", results, started_at=1.0, finished_at=2.0)
    public, secret = keys()
    with Receiver() as rx:
        trace_id = export_to_langfuse(
            LangfuseSettings(rx.url, public, secret),
            record,
            results,
            {"q1#h": "Capital of France?"},
            verdict="ok",
        )
    assert trace_id is not None and len(trace_id) == 32

    auth = base64.b64encode(f"{public}:{secret}".encode()).decode()
    otlp = [h for p, h, _ in rx.requests if p == "/api/public/otel/v1/traces"]
    assert otlp and all(h.get("authorization") == f"Basic {auth}" for h in otlp)

    spans = rx.spans()
    by_name = {s.name: s for s in spans}
    assert {"eval run core", "q1", "q2", "q3"} <= set(by_name)
    assert {s.trace_id.hex() for s in spans} == {trace_id}
    root = by_name["eval run core"]
    assert all(by_name[n].parent_span_id == root.span_id for n in ("q1", "q2", "q3"))

    scores = rx.scores()
    item_scores = {(s["name"], s["observationId"]): s["value"] for s in scores if "observationId" in s}
    q1, q2, q3 = (by_name[n].span_id.hex() for n in ("q1", "q2", "q3"))
    assert item_scores[("eval_score", q1)] == 1.0
    assert item_scores[("eval_score", q2)] == 0.0
    assert ("eval_score", q3) not in item_scores  # an error has no score, only an outcome
    assert item_scores[("eval_outcome", q3)] == "error"
    assert all(s["traceId"] == trace_id for s in scores)
    run_level = {s["name"]: s["value"] for s in scores if "observationId" not in s}
    assert run_level == {"eval_run_score": 0.5, "eval_verdict": "ok"}


@pytest.mark.timeout(60)
def test_an_unreachable_langfuse_never_fails_the_export(tmp_path, caplog):
    results = [ItemResult("q1", "q1#h", Outcome.PASS, 1.0, output="x")]
    record = summarise_run("r", "run", "s", "m", results, started_at=1.0, finished_at=2.0)
    public, secret = keys()
    # Port 9 (discard) on loopback: nothing listens. The SDK logs the failed deliveries; the export returns.
    settings = LangfuseSettings("http://127.0.0.1:9", public, secret)
    result = export_to_langfuse(settings, record, results, {}, verdict="ok")
    assert result is not None and len(result) == 32
    assert "Failed to export spans" in caplog.text  # the failure is visible in the job's log
    assert "Failed to send 4 scores to Langfuse" in caplog.text


@pytest.mark.integration
def test_eval_run_sends_its_scores_when_langfuse_is_configured(tmp_path, config_file, monkeypatch, capsys):
    suite = tmp_path / "two.jsonl"
    items = [
        {
            "id": "gold",
            "input": "What is the chemical symbol for gold? Reply with the symbol only.",
            "expected": "Au",
        },
        {
            "id": "iron",
            "input": "What is the chemical symbol for iron? Reply with the symbol only.",
            "expected": "Xx",
        },
    ]
    suite.write_text("\n".join(json.dumps({**x, "scorer": "exact"}) for x in items) + "\n")
    from support.evals_helpers import CORE_ANSWERS

    public, secret = keys()
    with (
        Receiver() as rx,
        SimServer(SimConfig(model=MODEL, ttft_ms=0, itl_ms=0, answers_file=CORE_ANSWERS)) as sim,
    ):
        monkeypatch.setenv("LANGFUSE_HOST", rx.url)
        monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", public)
        monkeypatch.setenv("LANGFUSE_SECRET_KEY", secret)
        args = [
            "run",
            str(suite),
            "--config",
            str(config_file),
            "--model",
            MODEL,
            "--base-url",
            f"{sim.base_url}/v1",
        ]
        assert main([*args, "--api-key", "k"]) == 0
    scores = {
        (s["name"], s.get("observationId") is not None): s["value"]
        for s in rx.scores()
        if s["name"] != "eval_outcome"
    }
    assert scores[("eval_run_score", False)] == 0.5
    item_values = sorted(s["value"] for s in rx.scores() if s["name"] == "eval_score")
    assert item_values == [0.0, 1.0]
    names = {s.name for s in rx.spans()}
    assert {"gold", "iron"} <= names
    generation = next(s for s in rx.spans() if s.name == "gold")
    attrs = {a.key: a.value.string_value for a in generation.attributes}
    assert "Au" in attrs.get("langfuse.observation.output", "")
    assert "chemical symbol for gold" in attrs.get("langfuse.observation.input", "")


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_two_exports_with_the_same_key_both_arrive():
    # `eval sample` exports once per model in one process; the SDK hands both the same client.
    record = summarise_run("r", "run", "s", "m", [], started_at=1.0, finished_at=2.0)
    public, secret = keys()
    with Receiver() as rx:
        settings = LangfuseSettings(rx.url, public, secret)
        first = export_to_langfuse(settings, record, [], {}, verdict="ok")
        second = export_to_langfuse(settings, record, [], {}, verdict="regressed")
    assert first and second and first != second
    verdicts = sorted(s["value"] for s in rx.scores() if s["name"] == "eval_verdict")
    assert verdicts == ["ok", "regressed"]
