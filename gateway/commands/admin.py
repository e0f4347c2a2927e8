"""`modelgate admin create-key`: make an admin API key, store its SHA-256 in modelgate.yaml, print it once.

The key is the last line of stdout (scripts take it with `tail -n1`); only the hash is written, under
`admin.key_sha256`, with the file edited as YAML so its comments and layout survive. A running gateway
takes the new key on SIGHUP (or at its next start).
"""

from __future__ import annotations

import sys
from typing import Any

from adapters.cli_args import OneLineParser, parse_or_exit_code
from gateway.auth import hash_key, new_api_key
from gateway.configedit import edit_config
from gateway.configfile import ConfigFileError, locate_config
from gateway.settings import ConfigError

__all__ = ["main"]


def _append_hash(digest: str) -> Any:
    def change(doc: Any) -> None:
        admin = doc.get("admin")
        if admin is None:
            doc["admin"] = admin = {}
        if not hasattr(admin, "keys"):
            raise ConfigFileError("admin: must be a mapping")
        hashes = admin.get("key_sha256")
        if hashes is None:
            admin["key_sha256"] = hashes = []
        if not isinstance(hashes, list):
            raise ConfigFileError("admin.key_sha256: must be a list")
        hashes.append(digest)

    return change


def main(argv: list[str]) -> int:
    parser = OneLineParser(prog="modelgate admin", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create-key", help="create an admin API key and print it once")
    create.add_argument("--config", help="config file (default: $MODELGATE_CONFIG or ./modelgate.yaml)")
    args = parse_or_exit_code(parser, argv)
    if isinstance(args, int):  # a usage error (2, its one line printed) or --help (0)
        return args
    path = locate_config(args.config)
    key = new_api_key()
    try:
        edit_config(path, _append_hash(hash_key(key)))
    except (ConfigFileError, ConfigError) as exc:
        print(f"modelgate admin: {exc}", file=sys.stderr)
        return 2
    print(f"added an admin key to {path} (send SIGHUP to running gateways); it is shown once, below:")
    print(key)
    return 0
