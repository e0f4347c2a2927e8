"""SIGHUP: re-read modelgate.yaml and apply what can change safely while serving, all of it or none.

    install_reload(app_services, config_path, stack)   # in the lifespan of `modelgate serve`
    kill -HUP <pid>

Reloadable without a restart: `llm.prices`, `llm.models`, `budgets.soft_fraction`, `tenants` (re-imported
into the tenant store, like at start-up) and `admin.key_sha256`. If the new file does not validate, or it
changes anything else (ports, paths, backends, timeouts, tracing…), the running config stays in force and
one log line says why; a restart applies those (docs/configuration.md lists them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from gateway.budget.pricing import Price
from gateway.services import Services
from gateway.settings import ConfigError, Settings, load_settings
from gateway.tenancy.config_import import import_config_tenants
from gateway.tenancy.records import TenancyError

__all__ = ["RELOADABLE", "install_reload", "reload_config", "restart_needed"]

log = logging.getLogger("modelgate.reload")

# (section, field) or (top-level field,) that a reload may change.
RELOADABLE: frozenset[tuple[str, ...]] = frozenset(
    {("llm", "prices"), ("llm", "models"), ("budgets", "soft_fraction"), ("tenants",), ("admin",)}
)


def _fixed_part(settings: Settings) -> dict[str, Any]:
    """The settings with the reloadable fields taken out."""
    data = settings.model_dump(mode="json")
    for path in RELOADABLE:
        if len(path) == 1:
            data.pop(path[0], None)
        else:
            data.get(path[0], {}).pop(path[1], None)
    return data


def restart_needed(old: Settings, new: Settings) -> list[str]:
    """The fields (`section.field`) that differ outside RELOADABLE, i.e. that only a restart applies."""
    a, b = _fixed_part(old), _fixed_part(new)
    changed = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if va == vb:
            continue
        if isinstance(va, dict) and isinstance(vb, dict):
            changed += [f"{key}.{k}" for k in sorted(set(va) | set(vb)) if va.get(k) != vb.get(k)]
        else:
            changed.append(key)
    return changed


async def reload_config(services: Services, path: Path) -> bool:
    """Validate `path` and apply it whole; on any problem keep the running config. True when applied."""
    try:
        new = load_settings(path)
    except ConfigError as exc:
        log.error("config reload refused, still serving the previous config: %s", exc)
        return False
    changed = restart_needed(services.settings, new)
    if changed:
        log.error(
            "config reload refused, still serving the previous config: %s changed, which needs a restart",
            ", ".join(changed),
        )
        return False
    if services.store is not None:
        try:
            await import_config_tenants(services.store, new.tenants, now=time.time())
        except TenancyError as exc:
            log.error("config reload refused, still serving the previous config: tenant store: %s", exc)
            return False
    # From here on nothing can fail: the new config takes effect as one.
    services.settings = new
    services.metrics.set_models(new.llm.models)
    llm = services.llm
    if llm is not None:
        llm.settings = new
        llm.admission.prices = {
            m: Price(p.input_per_mtok, p.output_per_mtok) for m, p in new.llm.prices.items()
        }
        llm.spend.soft_fraction = new.budgets.soft_fraction
    with contextlib.suppress(TenancyError):  # the refresh loop catches up
        await services.tenants.refresh()
    log.warning("config reloaded from %s", path)
    return True


def install_reload(services: Services, path: Path, stack: AsyncExitStack) -> None:
    """Reload on SIGHUP (main thread only, as `modelgate serve` runs); reloads never overlap."""
    loop = asyncio.get_running_loop()
    lock = asyncio.Lock()
    tasks: set[asyncio.Task[bool]] = set()

    async def run() -> bool:
        async with lock:
            return await reload_config(services, path)

    def on_hup() -> None:
        task = loop.create_task(run(), name="config-reload")
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    try:
        loop.add_signal_handler(signal.SIGHUP, on_hup)
    except (ValueError, RuntimeError):  # not the main thread (a test's uvicorn thread): app.state.reload
        log.info("SIGHUP reload not installed: the event loop is not in the main thread")
        return
    stack.callback(loop.remove_signal_handler, signal.SIGHUP)
