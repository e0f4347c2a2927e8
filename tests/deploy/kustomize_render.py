"""A small kustomize for the tests (no kubectl here): resources, strategic-merge patches matched by kind
and name, `images`, `namespace` and `labels`, which is all deploy/k8s uses. Lists of named maps
(containers, env, volumes, ports) merge by `name`, as Kubernetes' strategic merge does for them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Doc = dict[str, Any]


def load_docs(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = _merge(base[key], value) if key in base else value
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(x, dict) and "name" in x for x in base + patch)
    ):
        merged = {x["name"]: x for x in base}
        for item in patch:
            merged[item["name"]] = _merge(merged[item["name"]], item) if item["name"] in merged else item
        return list(merged.values())
    return patch


def _key(doc: Doc) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


def _set_images(node: Any, images: dict[str, Doc]) -> None:
    if isinstance(node, dict):
        if isinstance(node.get("image"), str):
            name, _, tag = node["image"].partition(":")
            rule = images.get(name)
            if rule is not None:
                node["image"] = f"{rule.get('newName', name)}:{rule.get('newTag', tag)}"
        for value in node.values():
            _set_images(value, images)
    elif isinstance(node, list):
        for value in node:
            _set_images(value, images)


def render(folder: Path) -> list[Doc]:
    """The documents `kubectl kustomize folder` would print (for the features above)."""
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text())
    docs: list[Doc] = []
    for resource in spec.get("resources", []):
        target = folder / resource
        docs.extend(render(target) if target.is_dir() else load_docs(target))
    docs = copy.deepcopy(docs)
    for patch_ref in spec.get("patches", []):
        for patch in load_docs(folder / patch_ref["path"]):
            matches = [i for i, d in enumerate(docs) if _key(d) == _key(patch)]
            assert len(matches) == 1, f"patch {patch_ref['path']} matches {len(matches)} resources"
            docs[matches[0]] = _merge(docs[matches[0]], patch)
    _set_images(docs, {i["name"]: i for i in spec.get("images", [])})
    for doc in docs:
        if spec.get("namespace") and doc["kind"] != "Namespace":
            doc["metadata"]["namespace"] = spec["namespace"]
        for entry in spec.get("labels", []):
            doc["metadata"].setdefault("labels", {}).update(entry["pairs"])
    return docs
