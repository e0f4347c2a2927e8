"""Real Prometheus -> real Alertmanager (deploy/alertmanager.yml) -> two loopback webhook receivers.

The project's rules run with `for: 0s`; Alertmanager runs the shipped routes, grouping and inhibition
with one-second waits. The metrics come from two tiny endpoints: one scraped as the Pushgateway (error
counters of the churn backend, a drift share, two tenants past their soft limit) and the gateway's own
address, which nobody serves at first, so GatewayDown fires. Shown:
- a page reaches only the paging receiver, a ticket only the ticket receiver;
- tickets are grouped per alert and tenant (one notification per tenant);
- while GatewayDown fires, HighErrorRate is held by Alertmanager as suppressed and never notified;
- once the gateway answers, GatewayDown's resolution reaches the pager and HighErrorRate follows.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_server import find_prometheus, free_port, run_prometheus

from monitoring.stack.alertmanager import run_alertmanager
from monitoring.stack.webhook import WebhookSink

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        find_prometheus() is None or shutil.which("prometheus-alertmanager") is None,
        reason="prometheus and prometheus-alertmanager are needed (`make system-deps`)",
    ),
]

PAGE, TICKET = "/page", "/ticket"
WAIT = 60.0


def _serve(registry: CollectorRegistry, port: int = 0) -> Any:
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    return server, thread


def _stop(handle: Any) -> None:
    server, thread = handle
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def job_metrics() -> Iterator[str]:
    """The 'Pushgateway' target: 23% of churn requests failing, drift at 0.4, two tenants past soft limits."""
    registry = CollectorRegistry()
    requests = Counter("modelgate_requests", "requests", ["backend", "status"], registry=registry)
    drift = Gauge("modelgate_drift_share", "drift", ["model", "model_version", "against"], registry=registry)
    drift.labels("churn", "v1", "training").set(0.4)
    labels = ["tenant", "window"]
    spend = Gauge("modelgate_tenant_spend_usd", "spend", labels, registry=registry)
    soft = Gauge("modelgate_tenant_budget_soft_limit_usd", "soft", labels, registry=registry)
    budget = Gauge("modelgate_tenant_budget_usd", "budget", labels, registry=registry)
    for tenant in ("acme", "globex"):
        spend.labels(tenant, "month").set(8.5)
        soft.labels(tenant, "month").set(8.0)
        budget.labels(tenant, "month").set(10.0)
    stop = threading.Event()

    def traffic() -> None:
        while not stop.wait(0.2):
            requests.labels("churn", "200").inc(10)
            requests.labels("churn", "500").inc(3)

    worker = threading.Thread(target=traffic, daemon=True)
    worker.start()
    handle = _serve(registry)
    try:
        yield f"127.0.0.1:{handle[0].server_port}"
    finally:
        stop.set()
        worker.join(timeout=5)
        _stop(handle)


def _names(sink: WebhookSink, path: str) -> set[str]:
    return {a["labels"]["alertname"] for post in sink.posts(path) for a in post["alerts"]}


def test_pages_tickets_grouping_inhibition_and_resolution(job_metrics: str) -> None:
    gateway_port = free_port()  # nothing listens yet: every gateway replica is down
    with WebhookSink() as sink:
        receivers = {"pager": sink.url(PAGE), "tickets": sink.url(TICKET)}
        with (
            run_alertmanager(receivers) as am,
            run_prometheus(
                {"modelgate": [f"127.0.0.1:{gateway_port}"], "pushgateway": [job_metrics]},
                for_override="0s",
                alertmanager=am.address,
                extra_args=["--rules.alert.resend-delay=1s"],
            ),
        ):
            sink.wait_for(lambda: sink.alerts(PAGE, "GatewayDown", "firing"), timeout=WAIT)
            sink.wait_for(lambda: sink.alerts(TICKET, "DataDriftDetected", "firing"), timeout=WAIT)
            tenant_posts = sink.wait_for(
                lambda: (
                    [
                        p
                        for p in sink.posts(TICKET)
                        if p["groupLabels"].get("alertname") == "TenantBudgetSoftLimit"
                    ]
                    if len(sink.alerts(TICKET, "TenantBudgetSoftLimit")) >= 2
                    else None
                ),
                timeout=WAIT,
            )
            # One notification group per tenant, keyed by alert name and tenant.
            assert sorted(p["groupLabels"]["tenant"] for p in tenant_posts) == ["acme", "globex"]
            assert all(len(p["alerts"]) == 1 and p["receiver"] == "tickets" for p in tenant_posts)

            # HighErrorRate reached Alertmanager, which holds it: suppressed, inhibited by GatewayDown.
            held = sink.wait_for(lambda: am.alerts(filter='alertname="HighErrorRate"'), timeout=WAIT)
            assert held[0]["status"]["state"] == "suppressed" and held[0]["status"]["inhibitedBy"]
            assert held[0]["annotations"]["runbook_url"].endswith("/docs/runbook.md#higherrorrate")

            # Pages only to the pager, tickets only to the ticket queue; the inhibited symptom nowhere.
            assert all(p["receiver"] == "pager" for p in sink.posts(PAGE))
            assert _names(sink, PAGE) == {"GatewayDown"}
            assert "GatewayDown" not in _names(sink, TICKET)
            assert "HighErrorRate" not in _names(sink, TICKET)
            gateway_down = sink.alerts(PAGE, "GatewayDown")[0]
            assert gateway_down["labels"]["severity"] == "page"
            assert gateway_down["annotations"]["runbook_url"].startswith("https://")

            # The gateway is back: GatewayDown resolves (its resolution is sent), the symptom goes through.
            registry = CollectorRegistry()
            Gauge("modelgate_build_info", "build", ["version"], registry=registry).labels("test").set(1)
            gateway = _serve(registry, gateway_port)
            try:
                sink.wait_for(lambda: sink.alerts(PAGE, "GatewayDown", "resolved"), timeout=WAIT)
                page = sink.wait_for(lambda: sink.alerts(PAGE, "HighErrorRate", "firing"), timeout=WAIT)
                assert page[0]["labels"]["backend"] == "churn"
                assert "HighErrorRate" not in _names(sink, TICKET)
            finally:
                _stop(gateway)
