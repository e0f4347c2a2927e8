"""`eval run` / `eval sample` without --model: the gateway's only model (GET /v1/models), or exit 2 listing
them when it serves several."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from adapters.vllm.sim.server import SimServer
from evals.cli import main
from evals.models import NoModel, pick_model
from support.evals_helpers import MODEL

pytestmark = pytest.mark.integration


@pytest.fixture
def two_models() -> Iterator[str]:
    """An OpenAI-compatible /v1/models on loopback that lists two models (as a multi-model gateway does)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(
                {
                    "object": "list",
                    "data": [{"id": m, "object": "model", "owned_by": "x"} for m in ("a-7b", "b-70b")],
                }
            ).encode()
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_run_without_a_model_uses_the_gateways_only_one(sim: SimServer, config_file, capsys) -> None:
    suite = config_file.parent / "tiny.jsonl"
    item = {"id": "a", "input": "What is the chemical symbol for gold? Reply with the symbol only.",
            "expected": "Au", "scorer": "exact"}  # fmt: skip
    suite.write_text(json.dumps(item) + "\n")
    argv = [
        "run",
        str(suite),
        "--config",
        str(config_file),
        "--base-url",
        f"{sim.base_url}/v1",
        "--api-key",
        "k",
    ]
    assert main(argv) == 0
    assert f"tiny · {MODEL}" in capsys.readouterr().out


@pytest.mark.parametrize("command", [["run", "core"], ["sample", "--days", "1"]])
def test_several_models_exit_2_listing_them(two_models: str, config_file, capsys, command: list[str]) -> None:
    assert main([*command, "--config", str(config_file), "--base-url", two_models, "--api-key", "k"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "2 models (a-7b, b-70b)" in err and "--model" in err


def test_an_explicit_model_is_not_looked_up() -> None:
    # No server behind this URL: naming the model must not need one.
    assert pick_model("m", "http://127.0.0.1:9/v1", "k") == "m"


def test_an_unreachable_gateway_says_what_to_do() -> None:
    with pytest.raises(NoModel, match="no model: pass --model"):
        pick_model(None, "http://127.0.0.1:9/v1", "k", timeout_s=2)
