"""`modelgate demo`: the whole system in one command, for a newcomer to watch every part work.

It starts the vLLM simulator, the gateway and (when installed) a real Prometheus with the project's rules,
drives mixed traffic for several tenants, injects a covariate drift and an upstream fault, runs the drift
and eval jobs through the same `modelgate` commands a scheduler would, and ends by printing where each
report is, which alerts fired, and the PromQL to look at. Everything runs on 127.0.0.1 in a fresh folder.
The demo reads prometheus.yml, alerts.yml and the eval suite from the repository checkout it runs in.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from adapters.cli_args import OneLineParser, non_negative_float, parse_or_exit_code, port_number
from monitoring.demo.stack import MODEL, ROOT, modelgate, running, write_config
from monitoring.demo.traffic import churn_rows, send_churn, send_llm
from monitoring.stack.processes import free_port
from monitoring.stack.prometheus import PrometheusError, find_prometheus, run_prometheus

__all__ = ["main"]

SUITE = ROOT / "evals" / "suites" / "core.jsonl"
ANSWERS = ROOT / "evals" / "suites" / "core.answers.jsonl"
WATCHED_ALERTS = (
    "HighErrorRate",
    "DataDriftDetected",
    "DataDriftSevere",
    "EvalRegression",
    "LLMUpstreamDown",
)


def _say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def _run_jobs(cfg: Path, reports: Path, gateway: str, sim: str, eval_key: str) -> dict[str, int]:
    codes: dict[str, int] = {}
    _say("drift: data drift against the training snapshot, and prediction drift")
    codes["drift data"] = modelgate(
        "drift", "data", "--config", str(cfg), "--by", "tenant",
        "--json", str(reports / "drift.json"), "--html", str(reports / "drift.html"),
    ).returncode  # fmt: skip
    codes["drift prediction"] = modelgate(
        "drift", "prediction", "--config", str(cfg), "--json", str(reports / "prediction-drift.json")
    ).returncode
    eval_args = ["eval", "run", str(SUITE), "--config", str(cfg), "--base-url", f"{gateway}/v1",
                 "--api-key", eval_key, "--model", MODEL, "--baseline", "trailing:3"]  # fmt: skip
    _say("evals: three baseline runs of the core suite at the simulator's normal quality (wrong-rate 0.05)")
    for _ in range(3):
        modelgate(*eval_args)
    _say("evals: the model gets worse (wrong-rate 0.25), one more run against the trailing baseline")
    httpx.post(f"{sim}/admin/faults", json={"wrong_rate": 0.25}, timeout=5).raise_for_status()
    codes["eval run"] = modelgate(
        *eval_args, "--json", str(reports / "eval.json"), "--html", str(reports / "eval.html")
    ).returncode
    httpx.post(f"{sim}/admin/faults", json={"wrong_rate": 0.05}, timeout=5).raise_for_status()
    return codes


def _alerts(prom: Any) -> dict[str, list[str]]:
    fired: dict[str, list[str]] = {}
    for alert in prom.alerts():
        if alert.get("state") == "firing":
            labels = alert["labels"]
            fired.setdefault(labels["alertname"], []).append(labels.get("severity", "?"))
    return fired


def _summary(work: Path, reports: Path, codes: dict[str, int], fired: dict[str, list[str]] | None) -> None:
    print("\n=== modelgate demo: what happened ===")
    print(f"workspace: {work}")
    for job, code in codes.items():
        meaning = {0: "healthy", 1: "found what it watches for", 2: "bad input"}.get(code, "failed")
        print(f"  modelgate {job:<17} exit {code} ({meaning})")
    print("reports:")
    for path in sorted(reports.iterdir()):
        print(f"  {path}")
    if fired is None:
        print("alerts: Prometheus is not installed (apt-get install prometheus) — alert rules not evaluated")
    else:
        print("alerts firing in Prometheus:" if fired else "alerts firing in Prometheus: none")
        for name, severities in sorted(fired.items()):
            print(f"  {name} ({', '.join(sorted(set(severities)))})")
    print("PromQL to look at:")
    for expr in (
        "sum by (status) (rate(modelgate_llm_requests_total[1m]))",
        "histogram_quantile(0.95, sum by (le, backend) "
        "(rate(modelgate_request_duration_seconds_bucket[1m])))",
        'modelgate_drift_share{against="training"}',
        "modelgate_eval_score",
        "modelgate_tenant_spend_usd / modelgate_tenant_budget_usd",
    ):
        print(f"  {expr}")


def _demo(work: Path, port: int, sim_port: int, linger_s: float) -> int:
    reports = work / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    cfg, keys = write_config(work, sim_port)
    gateway, sim = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sim_port}"
    sim_args = ["vllm-sim", "--port", str(sim_port), "--answers", str(ANSWERS), "--wrong-rate", "0.05",
                "--ttft-ms", "10", "--itl-ms", "2", "--seed", "7"]  # fmt: skip
    _say(f"starting the vLLM simulator on {sim} and the gateway on {gateway} (logs in {work})")
    with (
        running(sim_args, f"{sim}/health", work / "vllm-sim.log"),
        running(
            ["serve", "--config", str(cfg), "--port", str(port)], f"{gateway}/readyz", work / "gateway.log"
        ),
        contextlib.ExitStack() as stack,
    ):
        prom = None
        if find_prometheus():
            try:
                prom = stack.enter_context(
                    run_prometheus(
                        {"modelgate": [f"127.0.0.1:{port}"], "vllm": [f"127.0.0.1:{sim_port}"]},
                        for_override="0s",
                    )
                )
                _say(f"Prometheus with prometheus.yml and alerts.yml on {prom.url}")
            except PrometheusError as exc:
                _say(f"Prometheus did not start ({str(exc).splitlines()[0]}); going on without it")
        _say("traffic: 2,000 calm churn predictions for acme and globex, 60 LLM calls")
        send_churn(gateway, keys["acme"], churn_rows(1000, seed=1))
        send_churn(gateway, keys["globex"], churn_rows(1000, seed=2))
        llm_statuses = send_llm(gateway, [keys["acme"], keys["globex"]], 60, MODEL)
        _say(f"  LLM statuses: {json.dumps(llm_statuses)} (globex's $0.0002 daily budget refuses the rest)")
        _say("drift: globex's customers change — prices +25%, newer cohort, contracts move to month-to-month")
        send_churn(gateway, keys["globex"], churn_rows(3000, seed=3, shifted=True))
        _say("fault: the upstream fails half its requests")
        httpx.post(
            f"{sim}/admin/faults", json={"fail_rate": 0.5, "status": 500}, timeout=5
        ).raise_for_status()
        llm_statuses = send_llm(gateway, [keys["acme"]], 80, MODEL)
        _say(f"  LLM statuses under the fault: {json.dumps(llm_statuses)}")
        time.sleep(1.5)  # the prediction log flushes every 0.5 s
        codes = _run_jobs(cfg, reports, gateway, sim, keys["evals"])
        httpx.post(f"{sim}/admin/faults", json={"fail_rate": 0.5, "status": 500}, timeout=5)
        fired = None
        if prom is not None:
            send_llm(gateway, [keys["acme"]], 40, MODEL)  # keep the fault visible to the burn-rate windows
            with contextlib.suppress(PrometheusError):
                expected = ("HighErrorRate", "DataDriftDetected")
                prom.wait_until(lambda: all(a in _alerts(prom) for a in expected),
                                timeout=45)  # fmt: skip
            fired = _alerts(prom)
        _summary(work, reports, codes, fired)
        if linger_s > 0:
            _say(f"everything keeps running for {linger_s:.0f} s (Ctrl-C to stop): gateway {gateway}")
            with contextlib.suppress(KeyboardInterrupt):
                time.sleep(linger_s)
    return 0


def main(argv: list[str]) -> int:
    parser = OneLineParser(prog="modelgate demo", description=__doc__)
    parser.add_argument("--workdir", help="an empty or new folder (default: a new temporary folder)")
    parser.add_argument("--port", type=port_number, default=0, help="gateway port (default: a free one)")
    parser.add_argument(
        "--sim-port", type=port_number, default=0, help="simulator port (default: a free one)"
    )
    parser.add_argument(
        "--linger", type=non_negative_float, default=0.0, help="keep everything running this many seconds"
    )
    args = parse_or_exit_code(parser, argv)
    if isinstance(args, int):  # a usage error (2, its one line printed) or --help (0)
        return args
    if not SUITE.exists() or not (ROOT / "alerts.yml").exists():
        print(
            "modelgate demo: run it from a modelgate checkout (needs evals/suites and alerts.yml)",
            file=sys.stderr,
        )
        return 2
    if args.workdir:
        work = Path(args.workdir).resolve()
        if work.exists() and any(work.iterdir()):
            print(f"modelgate demo: {work} is not empty; give a new folder", file=sys.stderr)
            return 2
        work.mkdir(parents=True, exist_ok=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="modelgate-demo-"))
    os.environ.setdefault("DO_NOT_TRACK", "1")
    try:
        return _demo(work, args.port or free_port(), args.sim_port or free_port(), args.linger)
    except (RuntimeError, httpx.HTTPError) as exc:
        print(f"modelgate demo: {exc}", file=sys.stderr)
        return 2
