"""Job results reach a Pushgateway when one is configured: the real push protocol, to a loopback receiver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.logcontract.job_results import JobMetric, JobRun, publish


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).received.append(("PUT", self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def pushgateway() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", _Receiver.received
    finally:
        server.shutdown()
        server.server_close()


def test_publish_pushes_the_same_samples_grouped_by_job_and_variant(
    tmp_path: Path, pushgateway: tuple[str, list[tuple[str, str, bytes]]]
) -> None:
    url, received = pushgateway
    run = JobRun("drift_data", "training", started_at=1000.0)
    metric = JobMetric("modelgate_drift_share", "Share of drifted columns.", {"model": "churn"}, 0.43)
    publish(tmp_path, run, exit_code=1, metrics=[metric], pushgateway_url=url, finished_at=1012.0)
    ((method, path, body),) = received
    assert method == "PUT" and path == "/metrics/job/drift_data/variant/training"
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(body.decode())
        for s in fam.samples
    }
    assert samples[("modelgate_drift_share", (("model", "churn"),))] == 0.43
    assert samples[("modelgate_job_last_success_timestamp_seconds", ())] == 1012.0
    assert samples[("modelgate_job_duration_seconds", ())] == 12.0
    assert (tmp_path / "drift_data--training.json").exists()  # the file the gateway re-exports, too


def test_an_unreachable_pushgateway_never_fails_the_job(tmp_path: Path) -> None:
    run = JobRun("performance", started_at=1.0)
    path = publish(
        tmp_path, run, exit_code=0, metrics=[], pushgateway_url="http://127.0.0.1:9", finished_at=2.0
    )
    assert path.exists()
