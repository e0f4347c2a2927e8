"""Section fleet: gateway CPU per request with three upstream replicas against one, in the same run.

Two gateways, identical `modelgate init` configs but for the upstream: one has `llm.upstream_url` (a fleet
of one), the other `llm.upstreams` with three simulators of the same model (health checks and the
/metrics scrape running at their defaults, every 5 s and 2 s). wrk POSTs `/v1/chat/completions`
(16 tokens, sims at --ttft-ms 0 --itl-ms 0) to each in turn, alternating one-replica and three-replica
runs `ROUNDS` times so that load from elsewhere on the machine falls on both alike; gateway CPU comes from
/proc (bench/procstat.py) around each measured run.

Target (from the issue): the three-replica gateway within 5 % of the one-replica gateway's CPU per request.
"""

from __future__ import annotations

import json
import os
import statistics
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml

from bench.llm_section import CHAT_BODY
from bench.load import HttpMeasurement, LoadOptions, check_post, load_average, measure_http
from bench.report import Cell, heading, say, table, verdict
from bench.servers import Server
from bench.stack import SIM_MODEL, churn_artifact, gateway_config, start_gateway, start_sim
from bench.stats import ratio
from bench.wrk import write_post_script

__all__ = ["ROUNDS", "run"]

ROUNDS = 2
TARGET_RATIO = 1.05


def _as_fleet(config_path: Path, sims: list[Server]) -> None:
    """Turn an `init` config's single upstream into `llm.upstreams` over `sims`."""
    raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    raw["llm"].pop("upstream_url", None)
    raw["llm"]["upstreams"] = [
        {"name": f"replica-{i}", "url": s.base_url + "/v1", "models": [SIM_MODEL]} for i, s in enumerate(sims)
    ]
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")


def run(workdir: Path, options: LoadOptions) -> dict[str, Any]:
    print(
        heading("fleet: gateway CPU per request, 3 replicas vs 1", load_average(), os.cpu_count()), flush=True
    )
    folder = workdir / "fleet"
    folder.mkdir(parents=True, exist_ok=True)
    artifact = churn_artifact(workdir)
    body = json.dumps(CHAT_BODY)
    runs: dict[str, list[HttpMeasurement]] = {"1": [], "3": []}
    with ExitStack() as stack:
        sims = [
            stack.enter_context(start_sim(f"sim-{i}", folder, ttft_ms=0, itl_ms=0, tokens=16, wait=False))
            for i in range(4)
        ]
        one = gateway_config(folder / "gateway-1", upstream=sims[0].base_url + "/v1", artifact=artifact)
        three = gateway_config(folder / "gateway-3", upstream=sims[1].base_url + "/v1", artifact=artifact)
        for s in sims:
            s.wait_ready()
        _as_fleet(three.path, sims[1:])
        gw1 = stack.enter_context(start_gateway("gateway-1", one, folder, wait=False))
        gw3 = stack.enter_context(start_gateway("gateway-3", three, folder, wait=False))
        gw1.wait_ready()
        gw3.wait_ready()
        targets = {
            "1": (gw1, one.api_key, [gw1, sims[0]]),
            "3": (gw3, three.api_key, [gw3, *sims[1:]]),
        }
        scripts = {}
        for key, (gw, api_key, _) in targets.items():
            auth = {"Authorization": f"Bearer {api_key}"}
            check_post(gw.base_url + "/v1/chat/completions", body, auth)
            scripts[key] = write_post_script(folder / f"gateway-{key}.lua", body=body, headers=auth)
        for round_no in range(1, ROUNDS + 1):
            for key, (gw, _, servers) in targets.items():
                say(f"round {round_no}/{ROUNDS}, {key} replica(s): {options.warmup_s:.0f} s warm-up + "
                    f"{options.seconds:.0f} s measured")  # fmt: skip
                runs[key].append(
                    measure_http(
                        gw.base_url + "/v1/chat/completions", scripts[key], servers=servers, options=options
                    )
                )

    def cpu(key: str) -> list[float]:
        return [m.cpu_ms_per_request(f"gateway-{key}") for m in runs[key]]

    cpu1, cpu3 = statistics.mean(cpu("1")), statistics.mean(cpu("3"))
    cpu_ratio = ratio(cpu3, cpu1)
    rows: list[list[Cell]] = [
        [f"{key} replica(s), round {i + 1}", m.wrk.ok_rps, m.wrk.p50_ms, m.wrk.p99_ms,
         m.cpu_ms_per_request(f"gateway-{key}"), m.wrk.errors]
        for key in ("1", "3") for i, m in enumerate(runs[key])
    ]  # fmt: skip
    print(table(["gateway", "req/s", "p50 ms", "p99 ms", "gateway CPU ms/req", "errors"], rows, digits=3))
    met = cpu_ratio <= TARGET_RATIO
    print(
        f"gateway CPU per request, mean of {ROUNDS} runs: 1 replica {cpu1:.3f} ms, 3 replicas {cpu3:.3f} ms, "
        f"ratio {cpu_ratio:.3f}; target ≤ {TARGET_RATIO:.2f}: {verdict(met)}"
    )
    return {
        "one_replica": [m.as_dict() for m in runs["1"]],
        "three_replicas": [m.as_dict() for m in runs["3"]],
        "gateway_cpu_ms_per_request": {"one": cpu1, "three": cpu3, "ratio_three_over_one": cpu_ratio},
        "targets_met": {"three_replicas_cpu_within_5pct": met},
    }
