"""`modelgate init`: write a commented starter `modelgate.yaml` (never over an existing one).

`--production` writes a production starter instead: no development key, `/metrics` on its own listener
(127.0.0.1:9464, so per-tenant series never share the public API port), the API on 0.0.0.0, and the
interactive docs off.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from adapters.cli_args import OneLineParser, parse_or_exit_code
from gateway.configfile import locate_config

__all__ = ["DEFAULT_SIM_MODEL", "main", "render_starter_config"]

# The vLLM simulator's default model, priced in the starter table so `make run` works as written.
DEFAULT_SIM_MODEL = "sim-llama-3-8b"

TEMPLATE = """\
# modelgate configuration. Every field is described in docs/configuration.md.
# Relative paths resolve against this file's folder. Env overrides: MODELGATE_<SECTION>__<FIELD>.

{mode_block}

# Models, prediction logs, ledgers and job results live here.
data_dir: {data_dir}

server:
{server_block}

churn:
  artifact_dir: {data_dir}/models/churn   # `modelgate serve` trains a model here when none exists
  batch_limit: 1000

prediction_log:
  uri: {data_dir}/predictions             # or s3://bucket/prefix
  flush_rows: 5000
  flush_seconds: 2.0
  queue_size: 100000

llm:
  upstream_url: {upstream}{upstream_comment}
  models: [{model}]
  prices:                                  # USD per million tokens
    {model}: {{input_per_mtok: 0.20, output_per_mtok: 0.60}}
  billing: true
  connect_timeout_s: 2.0
  first_byte_timeout_s: 30.0              # headers + first body chunk (a stream's first token)
  chunk_timeout_s: 30.0                   # longest gap between two chunks of an answer
  total_timeout_s: 300.0
  max_tokens_cap: 4096                     # reserved when a request sets no max_tokens
  log_content: false                       # true keeps prompts/completions for judged samples

budgets:
  backend: sqlite                          # redis for several replicas (set redis_url)
  soft_fraction: 0.8

tracing:
  enabled: auto                            # on when OTEL_EXPORTER_OTLP_ENDPOINT (or endpoint:) is set
  sample_ratio: 1.0
  capture_content: false

jobs:
  results_dir: {data_dir}/jobs
  # pushgateway_url: http://127.0.0.1:9091

monitoring:
  drift:
    share_gate: 0.3
    retrain_gate: 0.6
  performance:
    auc_drop: 0.05
    min_labels: 1000                       # fewer labels per window give false alarms (docs/labels.md)

schedule:
  drift_data: {{cron: "0 * * * *", command: [drift, data]}}
  drift_prediction: {{cron: "5 * * * *", command: [drift, prediction]}}
  performance: {{cron: "30 2 * * *", command: [performance]}}
  logs_compact: {{cron: "7 * * * *", command: [logs, compact]}}   # few large files per hour and partition

# Tenants written here are imported into the tenant store at start-up and on SIGHUP; `modelgate tenants
# add|list|set|revoke-key` and the admin API work on the store while the gateway runs (docs/tenancy.md).
tenants: []

# Admin API keys, as SHA-256 hashes: `modelgate admin create-key` adds one and prints the key once.
admin:
  key_sha256: []
"""


_DEV_MODE = """\
# development allows the plain development_key below; production refuses to start while one is set.
mode: development
development_key: {dev_key}"""

_PROD_MODE = """\
# production: no development key; add tenants with `modelgate tenants add NAME`.
mode: production"""

_DEV_SERVER = """\
  host: 127.0.0.1
  port: 8000
  max_body_bytes: 1048576
  body_read_timeout_s: 30.0               # a body slower than this gets 408 (slowloris)
  max_connections: 1024                   # beyond it requests get 503"""

_PROD_SERVER = """\
  host: 0.0.0.0                           # the API, for clients
  port: 8000
  max_body_bytes: 1048576
  # /metrics carries every tenant's spend and tokens: its own listener, not the API port. Scrape it
  # from the host or pod network only (or add metrics_token_sha256 for a bearer token as well).
  metrics_host: 127.0.0.1
  metrics_port: 9464
  docs_enabled: false                     # no /docs or /openapi.json on a public port
  body_read_timeout_s: 30.0               # a body slower than this gets 408 (slowloris)
  header_read_timeout_s: 10.0
  max_connections: 1024                   # beyond it requests get 503
  keep_alive_timeout_s: 5.0"""


def render_starter_config(
    *, data_dir: str, upstream: str | None, dev_key: str, production: bool = False
) -> str:
    return TEMPLATE.format(
        mode_block=_PROD_MODE if production else _DEV_MODE.format(dev_key=dev_key),
        server_block=_PROD_SERVER if production else _DEV_SERVER,
        data_dir=data_dir,
        upstream=upstream or "null",
        upstream_comment="" if upstream else "   # e.g. http://127.0.0.1:8001/v1 (modelgate vllm-sim)",
        model=DEFAULT_SIM_MODEL,
    )


def main(argv: list[str]) -> int:
    parser = OneLineParser(prog="modelgate init", description=__doc__)
    parser.add_argument("--config", help="where to write (default: $MODELGATE_CONFIG or ./modelgate.yaml)")
    parser.add_argument("--data-dir", default="data", help="data folder, relative to the config file")
    parser.add_argument("--llm-upstream", metavar="URL", help="OpenAI-compatible upstream base URL (…/v1)")
    parser.add_argument(
        "--production",
        action="store_true",
        help="a production starter: no development key, /metrics on its own listener, docs off",
    )
    args = parse_or_exit_code(parser, argv)
    if isinstance(args, int):  # a usage error (2, its one line printed) or --help (0)
        return args
    path = locate_config(args.config)
    if path.exists():
        print(f"modelgate init: {path} already exists; not overwriting it", file=sys.stderr)
        return 2
    upstream = args.llm_upstream
    if upstream and not upstream.startswith(("http://", "https://")):
        print("modelgate init: --llm-upstream must start with http:// or https://", file=sys.stderr)
        return 2
    dev_key = "mg-dev-" + secrets.token_urlsafe(24)
    text = render_starter_config(
        data_dir=args.data_dir, upstream=upstream, dev_key=dev_key, production=args.production
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "x", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)  # it holds the development key
    if args.production:
        print(f"wrote {Path(path)} (production mode; add a tenant: modelgate tenants add NAME)")
    else:
        print(f"wrote {Path(path)} (development mode; development key: {dev_key})")
    return 0
