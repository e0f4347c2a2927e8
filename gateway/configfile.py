"""Find and read `modelgate.yaml`: the one gateway module other packages may import.

Every subcommand that reads the config takes `--config PATH`; without it `$MODELGATE_CONFIG`, then
`./modelgate.yaml`. Relative paths inside the file resolve against the folder that holds it.

    >>> raw, base = load_config_file(locate_config(None))   # doctest: +SKIP
    >>> resolve_path(base, raw.get("data_dir", "data"))      # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

# The path rules live with the other location rules in the log contract; re-exported for old callers.
from gateway.logcontract.locations import resolve_path, resolve_uri

__all__ = ["ConfigFileError", "load_config_file", "locate_config", "resolve_path", "resolve_uri"]

ENV_VAR = "MODELGATE_CONFIG"
DEFAULT_NAME = "modelgate.yaml"


class ConfigFileError(Exception):
    """The config file is missing or is not a YAML mapping. The message is one line for the user."""


def locate_config(explicit: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None) -> Path:
    """The config path by precedence: the explicit flag, `$MODELGATE_CONFIG`, `./modelgate.yaml`."""
    env = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR])
    return Path(DEFAULT_NAME)


def load_config_file(path: Path) -> tuple[dict[str, Any], Path]:
    """Parse the YAML mapping at `path`; return it and the folder relative paths resolve against."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(
            f"config file {path} not found (run `modelgate init`, or pass --config PATH)"
        ) from None
    except OSError as exc:
        raise ConfigFileError(f"config file {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigFileError(f"config file {path} is not valid YAML{where}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigFileError(f"config file {path} must hold a YAML mapping at the top level")
    return data, path.resolve().parent
