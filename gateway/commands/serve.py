"""`modelgate serve`: validate the config, find (or, in development mode only, train) the churn model, run
uvicorn.

In production mode a missing churn artifact stops start-up with one line saying how to train one or point
at one: a model trained on synthetic data must never answer real customers by accident.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import socket
import sys

from adapters.cli_args import OneLineParser, parse_or_exit_code, port_number
from gateway.configfile import locate_config
from gateway.settings import ConfigError, Settings, load_settings

__all__ = ["main"]


STARTUP_FAILURE = 3  # uvicorn's exit code when the app or the socket could not start


class MissingArtifact(Exception):
    """Production mode and no churn artifact: the message is the one line for the user."""


def _ensure_churn_model(settings: Settings) -> None:
    artifact = settings.artifact_dir
    if (artifact / "metadata.json").exists():
        return
    if settings.mode == "production":
        raise MissingArtifact(
            f"no churn model at {artifact} (production mode never trains on synthetic data): train one "
            f"with `modelgate churn train --out {artifact}`, or point churn.artifact_dir "
            "(MODELGATE_CHURN__ARTIFACT_DIR) at a trained artifact"
        )
    from adapters.churn.train import train_model

    rows, seed = settings.churn.train_rows, settings.churn.train_seed
    print(f"no churn model at {artifact}: training one ({rows} rows, seed {seed}) first…", flush=True)
    meta = train_model(artifact, rows=rows, seed=seed)
    print(f"trained churn model {meta.version} (validation ROC AUC {meta.validation_auc:.3f})", flush=True)


def freeze_startup_objects() -> None:
    """Move everything alive after start-up out of the cyclic collector's way (`gc.freeze`).

    The started gateway holds ~195,000 objects that live as long as it does (the app, the model,
    pandas, pyarrow and scikit-learn). Every full collection walks all of them: 70-80 ms each, about
    one every 15-20 s under 32 streams, and every request in flight waits (a 107 ms worst TTFT against
    22 ms frozen; bench/README.md, issue 18). Frozen, they are never walked again (a full collection
    then takes ~1.5 ms); what requests allocate is collected as before, and what start-up left as
    garbage is collected first.
    """
    gc.collect()
    gc.freeze()


def _ready_line(settings: Settings, host: str, port: int) -> str:
    key = settings.development_key or "<your API key>"
    server = settings.server
    metrics = (
        f"http://{server.metrics_host}:{server.metrics_port}/metrics" if server.metrics_port else "/metrics"
    )
    body = (
        '{"tenure_months": 3, "monthly_charges": 95.5, "total_charges": 290.0, "support_tickets": 2, '
        '"contract_type": "month-to-month", "payment_method": "electronic_check", '
        '"internet_service": "fiber_optic"}'
    )
    return (
        f"modelgate serving on http://{host}:{port}  (metrics: {metrics}, health: /readyz)\n"
        f"try: curl -s http://{host}:{port}/v1/churn/predict -H 'Authorization: Bearer {key}' "
        f"-H 'Content-Type: application/json' -d '{body}'"
    )


def main(argv: list[str]) -> int:
    parser = OneLineParser(prog="modelgate serve", description=__doc__)
    parser.add_argument("--config", help="config file (default: $MODELGATE_CONFIG or ./modelgate.yaml)")
    parser.add_argument("--host", help="overrides server.host")
    parser.add_argument("--port", type=port_number, help="overrides server.port")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = parse_or_exit_code(parser, argv)
    if isinstance(args, int):  # a usage error (2, its one line printed) or --help (0)
        return args
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"modelgate serve: {exc}", file=sys.stderr)
        return 2
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        _ensure_churn_model(settings)
    except MissingArtifact as exc:
        print(f"modelgate serve: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the one place a training failure meets the user
        print(f"modelgate serve: could not train the churn model: {exc}", file=sys.stderr)
        return 2

    import uvicorn

    from gateway.app import create_app
    from gateway.http_server import uvicorn_options
    from gateway.tracing.config import TracingConfigError

    try:
        app = create_app(settings, config_path=locate_config(args.config))
    except TracingConfigError as exc:  # a malformed OTEL_* variable: one line, never a traceback
        print(f"modelgate serve: {exc}", file=sys.stderr)
        return 2
    print(_ready_line(settings, host, port), flush=True)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=args.log_level,
        access_log=False,  # the metrics and the logs already record every request
        loop="uvloop",
        # uvicorn waits with asyncio.wait_for, which takes fractions despite the `int` annotation.
        timeout_graceful_shutdown=settings.server.graceful_shutdown_s,  # type: ignore[arg-type]
        # httptools with a header deadline, a response's head and body in one write and a signal when a
        # client leaves; the connection limit and the keep-alive timeout (gateway/http_server.py).
        **uvicorn_options(settings.server),
    )

    class Server(uvicorn.Server):
        """uvicorn's server (what `uvicorn.run` runs), freezing the start-up objects once started."""

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                freeze_startup_objects()

    server = Server(config)
    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run: its own handlers stop it on a signal
        server.run()
    return 0 if server.started else STARTUP_FAILURE
