"""`modelgate tenants add|add-key|list|set|revoke-key|delete`: manage tenants in the shared tenant store.

These talk to the store the gateway uses (the SQLite file next to the ledger, or the fleet's Redis), so
they work while the gateway runs: every replica picks a change up within `tenancy.refresh_interval_s`.
`add` and `add-key` print the new key once, as the last line of stdout; only its hash is stored.
Tenants written in modelgate.yaml are imported at the gateway's start-up; see docs/tenancy.md.

    modelgate tenants add acme --daily-usd 5 --rpm 600 --tpm 200000
    modelgate tenants add-key acme --key-name ci --lanes llm --models llama-3-8b --expires-at 2027-01-01
    modelgate tenants set acme --rpm none          # `none` removes a limit
    modelgate tenants revoke-key key_0123abcd…
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from adapters.cli_args import OneLineParser, parse_or_exit_code
from gateway.settings import ConfigError, Settings, load_settings
from gateway.tenancy.records import (
    LANES,
    TENANT_NAME,
    TenancyError,
    TenantRecord,
    issue_key,
)
from gateway.tenancy.store import TenantStore

__all__ = ["main"]

_PROG = "modelgate tenants"
_UNSET = object()


class _Refused(Exception):
    """Bad input found after parsing; the message is one line."""


def _usd(value: str) -> float | None:
    if value.lower() == "none":
        return None
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not v >= 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite amount ≥ 0: {value!r}")
    return v


def _count(value: str) -> int | None:
    if value.lower() == "none":
        return None
    try:
        v = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1: {value!r}")
    return v


def _lanes(value: str) -> frozenset[str]:
    lanes = frozenset(v.strip() for v in value.split(",") if v.strip())
    bad = sorted(lanes - LANES)
    if bad or not lanes:
        raise argparse.ArgumentTypeError(f"lanes are churn and/or llm, got {value!r}")
    return lanes


def _models(value: str) -> frozenset[str]:
    models = frozenset(v.strip() for v in value.split(",") if v.strip())
    if not models:
        raise argparse.ArgumentTypeError("give at least one model")
    return models


def _when(value: str) -> float:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or time: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment.timestamp() <= time.time():
        raise argparse.ArgumentTypeError(f"must be in the future: {value!r}")
    return moment.timestamp()


def _name(value: str) -> str:
    if not TENANT_NAME.match(value):
        raise argparse.ArgumentTypeError(
            f"invalid tenant name {value!r}: lower-case letters, digits, '-' and '_', at most 63"
        )
    return value


def _limit_args(p: argparse.ArgumentParser, *, default: Any) -> None:
    p.add_argument("--daily-usd", type=_usd, default=default, help="hard LLM budget per UTC day")
    p.add_argument("--monthly-usd", type=_usd, default=default, help="hard LLM budget per UTC month")
    p.add_argument("--rpm", type=_count, default=default, help="LLM requests per minute")
    p.add_argument("--tpm", type=_count, default=default, help="LLM tokens per minute")
    p.add_argument("--max-concurrency", type=_count, default=default, help="LLM requests in flight")


def _key_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key-name", default="", help="a label for the key")
    p.add_argument("--lanes", type=_lanes, help="comma-separated lanes the key may use (churn,llm)")
    p.add_argument("--models", type=_models, help="comma-separated LLM models the key may call")
    p.add_argument("--expires-at", type=_when, help="ISO 8601 time the key stops working (UTC if no zone)")
    p.add_argument("--key-rpm", type=_count, help="the key's own requests per minute")
    p.add_argument("--key-tpm", type=_count, help="the key's own tokens per minute")


async def _new_key(store: TenantStore, tenant: str, args: argparse.Namespace) -> str:
    key, record = issue_key(
        tenant,
        now=time.time(),
        name=args.key_name,
        expires_at=args.expires_at,
        lanes=args.lanes,
        models=args.models,
        rpm=args.key_rpm,
        tpm=args.key_tpm,
    )
    await store.add_key(record)
    return f"key {record.id}; the API key is shown once, below:\n{key}"


async def _add(store: TenantStore, args: argparse.Namespace, settings: Settings) -> str:
    if args.name == "dev" and settings.development_key:
        raise _Refused("'dev' is reserved for the development key")
    record = TenantRecord(
        args.name,
        args.daily_usd,
        args.monthly_usd,
        args.rpm,
        args.tpm,
        args.max_concurrency,
        created_at=time.time(),
    )
    await store.create_tenant(record)
    return f"added tenant {args.name}; " + await _new_key(store, args.name, args)


async def _add_key(store: TenantStore, args: argparse.Namespace, _: Settings) -> str:
    return await _new_key(store, args.name, args)


async def _set(store: TenantStore, args: argparse.Namespace, _: Settings) -> str:
    fields = ("daily_usd", "monthly_usd", "rpm", "tpm", "max_concurrency")
    changes = {f: getattr(args, f) for f in fields if getattr(args, f) is not _UNSET}
    if not changes:
        raise _Refused(
            "nothing to change: give --daily-usd, --monthly-usd, --rpm, --tpm or --max-concurrency"
        )
    t = await store.update_tenant(args.name, changes)
    return f"{t.name}: " + _limits(t)


async def _revoke(store: TenantStore, args: argparse.Namespace, _: Settings) -> str:
    key = await store.revoke_key(args.key_id, now=time.time())
    return f"revoked key {key.id} of tenant {key.tenant}"


async def _delete(store: TenantStore, args: argparse.Namespace, _: Settings) -> str:
    await store.delete_tenant(args.name)
    return f"deleted tenant {args.name} and its keys"


def _limits(t: TenantRecord) -> str:
    return (
        f"daily_usd={t.daily_usd} monthly_usd={t.monthly_usd} rpm={t.rpm} tpm={t.tpm} "
        f"max_concurrency={t.max_concurrency}"
    )


async def _list(store: TenantStore, _: argparse.Namespace, __: Settings) -> str:
    snap = await store.snapshot()
    now = time.time()
    lines = []
    for t in sorted(snap.tenants.values(), key=lambda t: t.name):
        lines.append(f"{t.name}\t{_limits(t)}\tsource={t.source}")
        for k in sorted((k for k in snap.keys.values() if k.tenant == t.name), key=lambda k: k.created_at):
            state = (
                "revoked"
                if k.revoked_at is not None
                else "expired"
                if k.expires_at is not None and k.expires_at <= now
                else "active"
            )
            lanes = ",".join(sorted(k.lanes)) if k.lanes else "*"
            models = ",".join(sorted(k.models)) if k.models else "*"
            scope = f"lanes={lanes} models={models}"
            lines.append(f"  {k.id}\t{state}\t{k.name or '-'}\t{scope}")
    return "\n".join(lines) if lines else "no tenants"


_Action = Callable[[TenantStore, argparse.Namespace, Settings], Awaitable[str]]


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=_PROG, description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)

    def command(name: str, action: _Action, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.add_argument("--config", help="config file (default: $MODELGATE_CONFIG or ./modelgate.yaml)")
        p.set_defaults(run=action)
        return p

    add = command("add", _add, "create a tenant and its first key (printed once)")
    add.add_argument("name", type=_name)
    _limit_args(add, default=None)
    _key_args(add)
    add_key = command("add-key", _add_key, "issue another key for a tenant (rotation)")
    add_key.add_argument("name", type=_name)
    _key_args(add_key)
    set_ = command("set", _set, "change a tenant's limits (`none` removes one)")
    set_.add_argument("name", type=_name)
    _limit_args(set_, default=_UNSET)
    command("list", _list, "list tenants and their keys (never the keys themselves)")
    revoke = command("revoke-key", _revoke, "revoke a key by its id")
    revoke.add_argument("key_id")
    delete = command("delete", _delete, "delete a tenant and all its keys")
    delete.add_argument("name", type=_name)
    return parser


def main(argv: list[str]) -> int:
    args = parse_or_exit_code(_parser(), argv)
    if isinstance(args, int):  # a usage error (2, its one line printed) or --help (0)
        return args
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"{_PROG}: {exc}", file=sys.stderr)
        return 2

    async def run() -> str:
        from gateway.tenancy.factory import create_tenant_store

        store = create_tenant_store(settings)
        try:
            result: str = await args.run(store, args, settings)
            return result
        finally:
            await store.close()

    try:
        print(asyncio.run(run()))
    except (TenancyError, _Refused) as exc:
        print(f"{_PROG}: {exc}", file=sys.stderr)
        return 2
    return 0
