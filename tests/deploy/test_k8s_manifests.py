"""deploy/k8s: every manifest valid against the Kubernetes OpenAPI schemas (kubernetes-validate, offline),
the fleet overlay rendered and valid too, the PrometheusRule exactly the rules promtool tests, and the
wiring between the pieces (config loads as Settings, probes, one worker per pod, CronJob commands).

No cluster or kubectl runs here: the overlay is rendered by tests/deploy/kustomize_render.py, and the two
Prometheus Operator kinds (no schema in kubernetes-validate) are checked field by field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from croniter import croniter
from kustomize_render import load_docs, render

from gateway.cli import SUBCOMMANDS
from gateway.settings import Settings
from support.servers import REPO

K8S = REPO / "deploy" / "k8s"
K8S_VERSION = "1.30.0"  # the oldest Kubernetes these manifests target (CronJob timeZone, podFailurePolicy)
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}
BASE = render(K8S / "base")
FLEET = render(K8S / "overlays" / "fleet")


def _by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def _name(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


@pytest.mark.parametrize("doc", BASE + FLEET, ids=_name)
def test_every_manifest_is_valid_against_the_kubernetes_schemas(doc: dict[str, Any]) -> None:
    if doc["kind"] in OPERATOR_KINDS:
        assert doc["apiVersion"] == "monitoring.coreos.com/v1"
        return
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_every_file_is_part_of_a_kustomization() -> None:
    listed = set()
    for folder in (K8S / "base", K8S / "overlays" / "fleet"):
        spec = yaml.safe_load((folder / "kustomization.yaml").read_text())
        listed |= {(folder / r).resolve() for r in spec.get("resources", [])}
        listed |= {(folder / p["path"]).resolve() for p in spec.get("patches", [])}
    files = {p.resolve() for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml"}
    assert files - listed == set()


def test_the_prometheusrule_is_generated_from_the_rule_files_promtool_tests() -> None:
    check = subprocess.run(
        [sys.executable, str(K8S / "generate_prometheusrule.py"), "--check"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout
    (rule,) = _by_kind(BASE, "PrometheusRule")
    in_cluster = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    tested_files: set[str] = set()
    for test_file in (REPO / "tests" / "alerts").glob("*.test.yml"):
        for rel in yaml.safe_load(test_file.read_text())["rule_files"]:
            tested_files.add(str((test_file.parent / rel).resolve()))
    tested = [
        r
        for f in sorted(tested_files)
        for g in yaml.safe_load(Path(f).read_text())["groups"]
        for r in g["rules"]
    ]
    key = lambda r: (r.get("alert") or r.get("record"), r["expr"])  # noqa: E731
    assert sorted(map(key, in_cluster)) == sorted(map(key, tested))
    assert len(in_cluster) == len(tested) > 0


@pytest.mark.parametrize("docs", [BASE, FLEET], ids=["base", "fleet"])
def test_the_configmap_is_a_valid_production_config(docs: list[dict[str, Any]]) -> None:
    (config_map,) = _by_kind(docs, "ConfigMap")
    settings = Settings(**yaml.safe_load(config_map["data"]["modelgate.yaml"]))
    assert settings.mode == "production" and settings.server.host == "0.0.0.0"
    assert settings.budgets.backend == "redis"  # replicas share one ledger
    assert settings.tracing.enabled == "auto"
    # /metrics (every tenant's spend) is on its own listener, not on the API port.
    assert settings.server.metrics_port not in (None, settings.server.port)


@pytest.mark.parametrize("docs", [BASE, FLEET], ids=["base", "fleet"])
def test_the_gateway_pod(docs: list[dict[str, Any]]) -> None:
    (deployment,) = _by_kind(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["modelgate", "serve"]  # one uvicorn worker: exemplars survive
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"]
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MODELGATE_CONFIG"].startswith(
        next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "config")
    )
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]  # tracing.enabled: auto turns on
    (service,) = [s for s in _by_kind(docs, "Service") if s["metadata"]["name"] == "modelgate-gateway"]
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    (monitor,) = _by_kind(docs, "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    # Prometheus scrapes the metrics listener (server.metrics_port), a port the pod and the Service name.
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics" and ports["metrics"]["targetPort"] == "metrics"
    settings = Settings(**yaml.safe_load(_by_kind(docs, "ConfigMap")[0]["data"]["modelgate.yaml"]))
    exposed = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert exposed["metrics"] == settings.server.metrics_port and exposed["http"] == settings.server.port


def test_the_fleet_runs_several_spread_pods_from_the_registry() -> None:
    (deployment,) = _by_kind(FLEET, "Deployment")
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.startswith("registry.example.com/")
    (pdb,) = _by_kind(FLEET, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] < deployment["spec"]["replicas"]
    assert all(d["metadata"].get("namespace") == "modelgate" for d in FLEET if d["kind"] != "Namespace")


# `modelgate logs compact` comes with the log-contract work (issue 14) on its own branch.
PENDING_SUBCOMMANDS = {"logs"}


def test_a_cronjob_per_scheduled_job_each_running_a_real_command() -> None:
    cronjobs = {d["metadata"]["name"]: d for d in _by_kind(BASE, "CronJob")}
    expected = {"drift-data", "drift-prediction", "labels-ingest", "performance", "eval-run", "eval-sample",
                "logs-compact"}  # fmt: skip
    assert set(cronjobs) == {f"modelgate-{n}" for n in expected}
    for name, job in cronjobs.items():
        assert croniter.is_valid(job["spec"]["schedule"]), name
        assert job["spec"]["concurrencyPolicy"] == "Forbid"
        template = job["spec"]["jobTemplate"]["spec"]
        (container,) = template["template"]["spec"]["containers"]
        assert container["image"].startswith("modelgate-jobs:"), name
        command = container["args"]
        assert command[0] == "modelgate"
        assert command[1] in SUBCOMMANDS or command[1] in PENDING_SUBCOMMANDS, name
        # Exit 1 (the watched condition) and 2 (bad input) are verdicts: never retried.
        (rule,) = [r for r in template["podFailurePolicy"]["rules"] if r["action"] == "FailJob"]
        assert rule["onExitCodes"]["values"] == [1, 2]


@pytest.mark.parametrize("docs", [BASE, FLEET], ids=["base", "fleet"])
def test_everything_a_pod_refers_to_exists(docs: list[dict[str, Any]]) -> None:
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for doc in docs:
        spec = doc.get("spec", {})
        pod = spec.get("template", {}).get("spec") or spec.get("jobTemplate", {}).get("spec", {}).get(
            "template", {}
        ).get("spec")
        if not pod:
            continue
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                assert ("ConfigMap", volume["configMap"]["name"]) in names
            if "persistentVolumeClaim" in volume:
                assert ("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]) in names
        for container in pod["containers"]:
            for source in container.get("envFrom", []):
                assert ("Secret", source["secretRef"]["name"]) in names


def test_a_broken_manifest_is_caught() -> None:
    # The validator is not a rubber stamp: a typo in a field name fails.
    (deployment,) = [d for d in load_docs(K8S / "base" / "gateway-deployment.yaml")]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
