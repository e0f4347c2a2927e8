"""The peers section's pure parts: pooling rounds, ratios to the best peer, finding and configuring peers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.load import HttpMeasurement
from bench.peers import LITELLM_MASTER_KEY, PORTKEY_ENTRY, find_peers, litellm_config, portkey_headers
from bench.peers_section import FLOOR, best_peer, over_floor, pool_http, pool_streams, versus_best
from bench.streaming import StreamRun
from bench.wrk import WrkResult


def _wrk(requests: int, seconds: float, p99: float, non_2xx: int = 0) -> WrkResult:
    return WrkResult(
        requests=requests,
        duration_s=seconds,
        rps=requests / seconds,
        mean_ms=1.0,
        max_ms=p99 * 2,
        p50_ms=p99 / 4,
        p75_ms=p99 / 3,
        p90_ms=p99 / 2,
        p99_ms=p99,
        non_2xx=non_2xx,
        socket_errors=dict.fromkeys(("connect", "read", "write", "timeout"), 0),
    )


def test_pool_http_sums_requests_and_cpu_over_rounds() -> None:
    rounds = [
        HttpMeasurement(_wrk(1000, 10.0, 40.0), {"gw": 0.5}, 1.0, 1.0),
        HttpMeasurement(_wrk(3000, 10.0, 20.0, non_2xx=1000), {"gw": 1.5}, 1.0, 1.0),
    ]
    pooled = pool_http(rounds, "gw")
    assert pooled["rps"] == pytest.approx(3000 / 20.0)  # the 1,000 non-2xx are not throughput
    assert pooled["cpu_ms"] == pytest.approx(2.0 * 1e3 / 3000)
    assert pooled["p99_ms"] == pytest.approx(30.0)
    assert pooled["errors"] == 1000
    assert pooled["cores"] == pytest.approx(2.0 / 20.0)  # CPU seconds per second of load
    assert math.isnan(pool_http(rounds, None)["cpu_ms"])  # direct: no gateway CPU to charge
    assert math.isnan(pool_http([], "gw")["rps"])


def test_pool_streams_concatenates_samples_before_the_percentile() -> None:
    a = StreamRun(ttft_s=[0.001] * 99, duration_s=[0.1] * 99)
    b = StreamRun(ttft_s=[0.5], duration_s=[0.6], errors={"no_done": 2})
    pooled = pool_streams([(a, 0.2), (b, 0.0)])
    assert pooled["streams"] == 100
    assert pooled["errors"] == 2
    assert pooled["ttft_p50_ms"] == pytest.approx(1.0)
    assert 1.0 < pooled["ttft_p99_ms"] < 500.0  # the one slow stream is in the pooled tail
    assert pooled["cpu_ms_per_stream"] == pytest.approx(2.0)


def test_best_peer_ignores_modelgate_direct_and_unmeasured_peers() -> None:
    rps = {"direct": 9000.0, "modelgate": 2000.0, "portkey": 900.0, "litellm": 80.0}
    assert best_peer(rps, higher_is_better=True) == ("portkey", 900.0)
    ttft = {"direct": math.nan, FLOOR: 0.4, "modelgate": 2.0, "portkey": 25.0, "litellm": math.nan}
    assert best_peer(ttft, higher_is_better=False) == ("portkey", 25.0)  # the byte proxy is no peer
    assert best_peer({"modelgate": 1.0, "portkey": math.nan}, higher_is_better=True)[0] is None


def test_versus_best_divides_by_the_best_peer() -> None:
    ratios = versus_best({"modelgate": 0.5, "portkey": 1.5, "litellm": 12.0}, higher_is_better=False)
    assert ratios["modelgate"] == pytest.approx(1 / 3)
    assert ratios["portkey"] == pytest.approx(1.0)
    assert ratios["litellm"] == pytest.approx(8.0)
    assert math.isnan(versus_best({"modelgate": 1.0}, higher_is_better=True)["modelgate"])


def test_over_floor_takes_the_byte_proxys_added_figures_off_modelgates() -> None:
    figures = {
        "ttft1_added_p50_ms": {"direct": math.nan, FLOOR: 0.35, "modelgate": 1.2},
        "ttft32_added_p99_ms": {"direct": math.nan, FLOOR: 3.0, "modelgate": 10.0},
    }
    own = over_floor(figures)
    assert own["ttft1_added_p50_ms"] == pytest.approx(0.85)
    assert own["ttft32_added_p99_ms"] == pytest.approx(7.0)
    del figures["ttft1_added_p50_ms"][FLOOR]  # not measured: no figure, rather than modelgate's whole
    assert math.isnan(over_floor(figures)["ttft1_added_p50_ms"])


def test_missing_peers_are_reported_with_the_install_log_tail(tmp_path: Path) -> None:
    (tmp_path / "litellm").mkdir()
    (tmp_path / "litellm" / "install.log").write_text(
        "WARNING: Location 'file:///x' is ignored\nERROR: No matching distribution found for litellm-proxy\n",
        encoding="utf-8",
    )
    peers = find_peers(tmp_path)
    assert peers["portkey"].command == ()
    assert peers["portkey"].missing is not None and "make bench-deps" in peers["portkey"].missing
    assert peers["litellm"].missing is not None
    assert "No matching distribution" in peers["litellm"].missing
    assert "WARNING: Location" not in peers["litellm"].missing


def test_installed_peers_get_start_commands(tmp_path: Path) -> None:
    entry = tmp_path / "portkey" / PORTKEY_ENTRY
    entry.parent.mkdir(parents=True)
    entry.write_text("// start-server", encoding="utf-8")
    (tmp_path / "portkey" / ".installed").touch()
    (tmp_path / "litellm" / "bin").mkdir(parents=True)
    (tmp_path / "litellm" / "bin" / "litellm").write_text("#!/bin/sh\n", encoding="utf-8")
    (tmp_path / "litellm" / ".installed").touch()
    peers = find_peers(tmp_path)
    assert peers["litellm"].command == (str(tmp_path / "litellm" / "bin" / "litellm"),)
    if peers["portkey"].missing is None:  # node on PATH
        assert peers["portkey"].command[-1] == str(entry)


def test_peer_configs_point_at_the_given_upstreams() -> None:
    config = litellm_config({"fast": "http://127.0.0.1:1/v1", "stream": "http://127.0.0.1:2/v1"}, "m")
    models = config["model_list"]
    assert isinstance(models, list)
    assert [(m["model_name"], m["litellm_params"]["api_base"]) for m in models] == [
        ("fast", "http://127.0.0.1:1/v1"),
        ("stream", "http://127.0.0.1:2/v1"),
    ]
    assert all(m["litellm_params"]["model"] == "openai/m" for m in models)
    assert config["general_settings"] == {"master_key": LITELLM_MASTER_KEY}
    headers = portkey_headers("http://127.0.0.1:1/v1")
    assert headers["x-portkey-provider"] == "openai"
    assert headers["x-portkey-custom-host"] == "http://127.0.0.1:1/v1"
