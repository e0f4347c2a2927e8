"""The peer gateways the peers section measures next to modelgate: Portkey's gateway and the LiteLLM proxy.

Both are installed by `make bench-deps` (the Makefile's `bench-peers` target) into folders of their own:

- Portkey, `@portkey-ai/gateway` from npm in `.tools/portkey` (bench/portkey-package.json, with
  `@hono/node-server` pinned to 1.12.2 through npm `overrides`: later versions break its streaming).
  Run as `node …/build/start-server.js --port=N --headless`; it has no config file, each request names its
  provider and upstream in headers (`x-portkey-provider: openai`, `x-portkey-custom-host`).
- LiteLLM, `litellm[proxy]` in its own venv `.tools/litellm`, run as `litellm --config … --port N`
  with a fixed master key, no database, `LITELLM_LOCAL_MODEL_COST_MAP=True` (no cost-map fetch from the
  internet), one model name per upstream.

`find_peers` says, per peer, either how to start it or why it cannot be (not installed, and the tail of
its install log when there is one), so the section reports a missing peer instead of skipping it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bench.servers import REPO, Server, child_env, free_port

__all__ = [
    "LITELLM_MASTER_KEY",
    "PEERS",
    "Peer",
    "PeerTarget",
    "find_peers",
    "litellm_config",
    "portkey_headers",
    "start_peer",
]

PEERS = ("portkey", "litellm")
TOOLS = REPO / ".tools"
LITELLM_MASTER_KEY = "sk-modelgate-bench-0001"  # fixed: no database, so the master key is the only key
PORTKEY_ENTRY = Path("node_modules/@portkey-ai/gateway/build/start-server.js")


@dataclass(frozen=True)
class Peer:
    """One peer: `command` when it is installed, else `missing` says why (and how to install it)."""

    name: str
    command: tuple[str, ...] = ()
    missing: str | None = None


@dataclass(frozen=True)
class PeerTarget:
    """A running peer and what a request through it needs: the URL and the headers for an upstream."""

    server: Server
    url: str
    headers_for: Mapping[str, dict[str, str]] = field(default_factory=dict)  # upstream base URL -> headers
    model_for: Mapping[str, str] = field(default_factory=dict)  # upstream base URL -> model name to send


def _install_hint(name: str, folder: Path) -> str:
    log = folder / "install.log"
    tail = ""
    if log.is_file():
        # pip's "Location … is ignored" warnings about this machine's local indexes are noise here.
        lines = [
            line
            for line in log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
            if line.strip() and not line.startswith("WARNING: Location")
        ]
        tail = "; install log ends: " + " | ".join(lines[-3:]) if lines else ""
    return f"{name} not installed in {folder} (run `make bench-deps`){tail}"


def find_peers(tools: Path = TOOLS) -> dict[str, Peer]:
    """Each peer's start command, or why it has none (the Makefile's `.installed` stamp is missing)."""
    peers: dict[str, Peer] = {}
    portkey = tools / "portkey"
    node = _which("node")
    if node is None:
        peers["portkey"] = Peer(
            "portkey", missing="node not found (Debian package nodejs; `make bench-deps`)"
        )
    elif not (portkey / ".installed").is_file() or not (portkey / PORTKEY_ENTRY).is_file():
        peers["portkey"] = Peer("portkey", missing=_install_hint("@portkey-ai/gateway", portkey))
    else:
        peers["portkey"] = Peer("portkey", command=(node, str(portkey / PORTKEY_ENTRY)))
    litellm = tools / "litellm"
    if not (litellm / ".installed").is_file() or not (litellm / "bin" / "litellm").is_file():
        peers["litellm"] = Peer("litellm", missing=_install_hint("litellm[proxy]", litellm))
    else:
        peers["litellm"] = Peer("litellm", command=(str(litellm / "bin" / "litellm"),))
    return peers


def _which(program: str) -> str | None:
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(folder) / program
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def portkey_headers(upstream: str) -> dict[str, str]:
    """Portkey's per-request routing: the OpenAI provider at a custom host (the simulator's /v1)."""
    return {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": upstream,
        "Authorization": "Bearer sk-unused-by-the-simulator",
    }


def litellm_config(upstreams: Mapping[str, str], model: str) -> dict[str, object]:
    """A LiteLLM proxy config: one model name per upstream, all `openai/<model>` at that api_base.

    `upstreams` maps the name clients send to the upstream base URL (…/v1). No database, no callbacks.
    """
    return {
        "model_list": [
            {
                "model_name": name,
                "litellm_params": {"model": f"openai/{model}", "api_base": base, "api_key": "sk-unused"},
            }
            for name, base in upstreams.items()
        ],
        "general_settings": {"master_key": LITELLM_MASTER_KEY},
        # No tokenizer download: the model name holds "llama-3", for which LiteLLM would fetch a Hugging
        # Face tokenizer to count streamed tokens, retrying ~20 s per request on a machine offline.
        # tiktoken (shipped with it) counts instead.
        "litellm_settings": {"telemetry": False, "drop_params": True, "disable_hf_tokenizer_download": True},
    }


@contextlib.contextmanager
def start_peer(
    peer: Peer, log_dir: Path, *, upstreams: Mapping[str, str], model: str, wait: bool = True
) -> Iterator[PeerTarget]:
    """Start an installed peer in front of `upstreams` (name -> base URL …/v1); yield how to reach it."""
    if peer.missing is not None:
        raise RuntimeError(peer.missing)
    port = free_port()
    if peer.name == "portkey":
        cmd = [*peer.command, f"--port={port}", "--headless"]  # it reads only the `--port=N` form
        with Server.start(
            "portkey", cmd, port=port, health_path="/", log_dir=log_dir, env=child_env(), wait=wait
        ) as server:
            yield PeerTarget(
                server,
                server.base_url + "/v1/chat/completions",
                headers_for={base: portkey_headers(base) for base in upstreams.values()},
                model_for={base: model for base in upstreams.values()},
            )
        return
    config = log_dir / "litellm.yaml"
    config.write_text(yaml.safe_dump(litellm_config(upstreams, model), sort_keys=False), encoding="utf-8")
    env = child_env(
        {
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_MASTER_KEY": LITELLM_MASTER_KEY,
            "LITELLM_LOG": "ERROR",
            "LITELLM_TELEMETRY": "False",
            "HF_HUB_OFFLINE": "1",
        }
    )
    env.pop("DATABASE_URL", None)
    cmd = [*peer.command, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--num_workers", "1"]
    with Server.start(
        "litellm", cmd, port=port, health_path="/health/liveliness", log_dir=log_dir, env=env, wait=wait
    ) as server:
        auth = {"Authorization": f"Bearer {LITELLM_MASTER_KEY}"}
        yield PeerTarget(
            server,
            server.base_url + "/v1/chat/completions",
            headers_for={base: auth for base in upstreams.values()},
            model_for={base: name for name, base in upstreams.items()},
        )
