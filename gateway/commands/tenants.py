"""`modelgate tenants add NAME` / `modelgate tenants list`.

`add` creates a key, prints it once (the last line of stdout) and stores only its SHA-256 in the config.
It appends to the `tenants:` section, which must be the file's last top-level section (as `init` writes
it), so the file's comments survive untouched.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile

from gateway.auth import hash_key, new_api_key
from gateway.configfile import ConfigFileError, load_config_file, locate_config
from gateway.settings import ConfigError, settings_from_mapping

__all__ = ["main"]

_TOP_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*:")


def _last_top_level_key(text: str) -> str | None:
    last = None
    for line in text.splitlines():
        m = _TOP_KEY.match(line)
        if m:
            last = m.group(1)
    return last


def _entry(name: str, key_hash: str, daily: float | None, monthly: float | None) -> str:
    def num(v: float | None) -> str:
        return "null" if v is None else repr(float(v))

    return (
        f"  - name: {name}\n"
        f"    key_sha256: {key_hash}\n"
        f"    daily_usd: {num(daily)}\n"
        f"    monthly_usd: {num(monthly)}\n"
    )


def _add(args: argparse.Namespace) -> int:
    path = locate_config(args.config)
    try:
        raw, base = load_config_file(path)
        text = path.read_text(encoding="utf-8")
    except ConfigFileError as exc:
        print(f"modelgate tenants: {exc}", file=sys.stderr)
        return 2
    if any(isinstance(t, dict) and t.get("name") == args.name for t in raw.get("tenants") or []):
        print(f"modelgate tenants: tenant {args.name!r} already exists", file=sys.stderr)
        return 2
    if "tenants" in raw and _last_top_level_key(text) != "tenants":
        print(f"modelgate tenants: move the tenants: section to the end of {path} first", file=sys.stderr)
        return 2
    key = new_api_key()
    if "tenants" not in raw:
        text = text.rstrip("\n") + "\n\ntenants:\n"
    new_text = text.rstrip("\n") + "\n" + _entry(args.name, hash_key(key), args.daily_usd, args.monthly_usd)
    # Validate the whole new config before writing anything: a bad name or budget never lands.
    import yaml

    try:
        settings_from_mapping(yaml.safe_load(new_text), base, str(path))
    except ConfigError as exc:
        print(f"modelgate tenants: {exc}", file=sys.stderr)
        return 2
    fd, tmp = tempfile.mkstemp(dir=path.resolve().parent, prefix=".modelgate-", suffix=".yaml")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(new_text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    print(f"added tenant {args.name} to {path}; its API key is shown once, below:")
    print(key)
    return 0


def _list(args: argparse.Namespace) -> int:
    path = locate_config(args.config)
    try:
        raw, base = load_config_file(path)
        settings = settings_from_mapping(raw, base, str(path))
    except (ConfigFileError, ConfigError) as exc:
        print(f"modelgate tenants: {exc}", file=sys.stderr)
        return 2
    for t in settings.tenants:
        print(f"{t.name}\tdaily_usd={t.daily_usd}\tmonthly_usd={t.monthly_usd}")
    return 0


def _usd(value: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not v >= 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite amount ≥ 0: {value!r}")
    return v


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="modelgate tenants", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="create a tenant and print its API key once")
    add.add_argument("name")
    add.add_argument("--daily-usd", type=_usd, help="hard LLM budget per UTC day")
    add.add_argument("--monthly-usd", type=_usd, help="hard LLM budget per UTC month")
    add.add_argument("--config")
    lst = sub.add_parser("list", help="list tenants (never keys)")
    lst.add_argument("--config")
    args = parser.parse_args(argv)
    return _add(args) if args.action == "add" else _list(args)
