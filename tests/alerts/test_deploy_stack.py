"""deploy/: the compose stack agrees with prometheus.yml and otel-collector.yaml, and Alertmanager routes
pages and tickets apart. Docker cannot run here, so these read the files; amtool checks alertmanager.yml
when it is installed (Debian's prometheus-alertmanager)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# prometheus.yml scrape job -> the compose service behind it
SCRAPED_SERVICES = {"modelgate": "gateway", "vllm": "vllm", "pushgateway": "pushgateway"}


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = _load(DEPLOY / "docker-compose.yml")
    return compose


def _command(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else str(command)


def _listens_on(service: dict[str, Any], port: int) -> bool:
    text = _command(service)
    return bool(re.search(rf"127\.0\.0\.1:{port}\b|--port[ =]{port}\b", text))


def test_stack_has_every_component() -> None:
    services = _compose()["services"]
    assert {
        "gateway", "vllm", "otel-collector", "jaeger", "prometheus", "alertmanager", "grafana", "pushgateway"
    } <= set(services)  # fmt: skip
    assert services["vllm"]["image"].startswith("vllm/vllm-openai:")
    assert services["otel-collector"]["image"].startswith("otel/opentelemetry-collector-contrib:")


def test_every_mounted_file_exists() -> None:
    for name, service in _compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"
    build = _compose()["services"]["gateway"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()


def test_prometheus_mounts_its_config_and_every_rule_file_beside_it() -> None:
    prometheus = _compose()["services"]["prometheus"]
    mounts = {v.split(":")[1]: (DEPLOY / v.split(":")[0]).resolve() for v in prometheus["volumes"]}
    assert mounts["/etc/prometheus/prometheus.yml"] == ROOT / "prometheus.yml"
    for rule_file in _load(ROOT / "prometheus.yml")["rule_files"]:
        assert mounts[f"/etc/prometheus/{rule_file}"] == ROOT / rule_file
    command = _command(prometheus)
    assert "--enable-feature=exemplar-storage" in command
    retention = re.search(r"--storage\.tsdb\.retention\.time=(\d+)d", command)
    assert retention and int(retention.group(1)) >= 35


def test_scrape_targets_and_alertmanager_match_the_services_ports() -> None:
    config = _load(ROOT / "prometheus.yml")
    services = _compose()["services"]
    for job in config["scrape_configs"]:
        service = services[SCRAPED_SERVICES[job["job_name"]]]
        for target in job["static_configs"][0]["targets"]:
            host, port = target.split(":")
            assert host == "127.0.0.1"
            # Loopback targets reach a container only when it shares the host's network.
            assert service.get("network_mode") == "host", job["job_name"]
            assert _listens_on(service, int(port)), f"{job['job_name']} does not listen on {target}"
    for target in config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]:
        assert services["prometheus"]["network_mode"] == services["alertmanager"]["network_mode"] == "host"
        assert _listens_on(services["alertmanager"], int(target.split(":")[1]))


def test_grafana_reads_the_prometheus_of_the_stack() -> None:
    services = _compose()["services"]
    datasources = _load(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    url = next(ds["url"] for ds in datasources if ds["type"] == "prometheus")
    port = int(url.rsplit(":", 1)[1])
    assert services["grafana"]["network_mode"] == "host"
    assert _listens_on(services["prometheus"], port)
    dashboards = {
        v.split(":")[1]: (DEPLOY / v.split(":")[0]).resolve() for v in services["grafana"]["volumes"]
    }
    assert (dashboards["/var/lib/grafana/dashboards/modelgate"] / "modelgate-dashboard.json").is_file()


def test_collector_reaches_jaeger_by_name_on_a_shared_network() -> None:
    collector_config = _load(ROOT / "otel-collector.yaml")
    services = _compose()["services"]
    hosts = {
        str(exporter.get("endpoint", "")).split(":")[0]
        for exporter in collector_config["exporters"].values()
        if isinstance(exporter, dict)
    }
    assert "jaeger" in hosts
    assert set(services["otel-collector"]["networks"]) & set(services["jaeger"]["networks"])
    published = services["otel-collector"]["ports"]
    assert "127.0.0.1:4318:4318" in published  # the gateway (host network) exports OTLP/HTTP here
    endpoint = services["gateway"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert endpoint == "http://127.0.0.1:4318"


def test_alertmanager_routes_pages_and_tickets_to_different_receivers() -> None:
    config = _load(DEPLOY / "alertmanager.yml")
    receivers = {route["matchers"][0]: route["receiver"] for route in config["route"]["routes"]}
    assert receivers['severity="page"'] != receivers['severity="ticket"']
    assert {r["name"] for r in config["receivers"]} >= set(receivers.values())


@pytest.mark.skipif(
    shutil.which("amtool") is None, reason="amtool is not installed (prometheus-alertmanager)"
)
@pytest.mark.parametrize(("labels", "receiver"), [("severity=page", "pager"), ("severity=ticket", "tickets")])
def test_amtool_accepts_the_config_and_routes_by_severity(labels: str, receiver: str) -> None:
    config = str(DEPLOY / "alertmanager.yml")
    check = subprocess.run(["amtool", "check-config", config], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    route = subprocess.run(
        ["amtool", "config", "routes", "test", f"--config.file={config}", "alertname=X", labels],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert route.returncode == 0, route.stderr
    assert route.stdout.split() == [receiver]
