"""Change `modelgate.yaml` as YAML, keeping its comments, key order and indentation (ruamel.yaml round trip).

    edit_config(path, lambda doc: doc.setdefault("admin", {}).setdefault("key_sha256", []).append(h))

Works on any valid layout — the commented file `modelgate init` writes, and one a YAML tool rewrote
(`yaml.safe_dump` puts block sequences at the key's column, `- name:` at column 0): the file's own mapping
and sequence indentation is detected and kept. The new text is validated as a whole config before it is
written (atomically, keeping the file's permissions), so a change that would not start never lands.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.util import load_yaml_guess_indent

from gateway.configfile import ConfigFileError
from gateway.settings import settings_from_mapping

__all__ = ["edit_config"]


def _load(path: Path) -> tuple[Any, YAML]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(
            f"config file {path} not found (run `modelgate init`, or pass --config PATH)"
        ) from None
    except OSError as exc:
        raise ConfigFileError(f"config file {path}: {exc.strerror}") from exc
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096  # never re-wrap long lines (descriptions, URLs)
    # `null` stays `null` (ruamel would write an empty value, which reads the same but looks like a typo).
    rt.representer.add_representer(
        type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    try:
        _, indent, block_seq_indent = load_yaml_guess_indent(text)  # only for the layout
        doc = rt.load(text)
    except YAMLError as exc:
        raise ConfigFileError(f"config file {path} is not valid YAML") from exc
    indent = indent or 2
    seq_offset = block_seq_indent or 0
    # ruamel's `sequence` is the dash's column plus the item's indent; offset is where the dash sits.
    rt.indent(mapping=indent, sequence=max(indent, seq_offset + 2), offset=seq_offset)
    if doc is None:
        doc = rt.load("{}\n")
    if not hasattr(doc, "keys"):
        raise ConfigFileError(f"config file {path} must hold a YAML mapping at the top level")
    return doc, rt


def edit_config(path: Path, change: Callable[[Any], None]) -> None:
    """Apply `change` to the parsed document, validate the result, write it. Raises ConfigFileError /
    ConfigError with one line for the user; the file is untouched on any error."""
    doc, rt = _load(path)
    change(doc)
    out = io.StringIO()
    rt.dump(doc, out)
    new_text = out.getvalue()
    settings_from_mapping(yaml.safe_load(new_text) or {}, path.resolve().parent, str(path))
    mode = stat.S_IMODE(path.stat().st_mode)
    fd, tmp = tempfile.mkstemp(dir=path.resolve().parent, prefix=".modelgate-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new_text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
