"""What the Dockerfiles promise, checked without a Docker daemon (none can run here): multi-stage builds,
a non-root numeric user, 0.0.0.0 through the config's env override, a HEALTHCHECK, installs from the
committed lockfiles with hashes, the gateway image without the jobs extra, and a .dockerignore that keeps
the context to what the images copy. The lockfiles are checked against pyproject.toml."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from support.servers import REPO

DEPLOY = REPO / "deploy"
IMAGES = {"gateway": DEPLOY / "gateway.Dockerfile", "jobs": DEPLOY / "jobs.Dockerfile"}


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _locked(name: str) -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements" / f"{name}.lock").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^ \\]+)", line)
        if m:
            pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_each_image_is_multi_stage_non_root_with_a_healthcheck(image: str) -> None:
    steps = _instructions(IMAGES[image])
    froms = [args for word, args in steps if word == "FROM"]
    assert len(froms) >= 2 and froms[0].endswith("AS build") and froms[-1].endswith("AS runtime")
    runtime = steps[max(i for i, (w, _) in enumerate(steps) if w == "FROM") :]
    users = [args for word, args in runtime if word == "USER"]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    assert any(word == "HEALTHCHECK" and "CMD" in args for word, args in runtime)
    # The runtime stage takes the venv from the build stage and nothing of the source tree.
    assert any(word == "COPY" and args.startswith("--from=build /opt/modelgate") for word, args in runtime)
    assert not any(word == "COPY" and not args.startswith("--from=") for word, args in runtime)
    lock = f"requirements/{image}.lock"
    installs = [args for word, args in steps if word == "RUN" and "pip install" in args]
    assert any("--require-hashes" in a and "--no-deps" in a for a in installs)
    assert any(word == "COPY" and args.startswith(lock) for word, args in steps)
    # modelgate itself goes in without resolving anything beyond the lockfile.
    assert all("--no-deps" in a for a in installs)


def test_the_gateway_binds_every_interface_through_config_and_serves_by_default() -> None:
    steps = _instructions(IMAGES["gateway"])
    env = " ".join(args for word, args in steps if word == "ENV")
    assert "MODELGATE_SERVER__HOST=0.0.0.0" in env
    cmd = [args for word, args in steps if word == "CMD"][-1]
    assert cmd == '["modelgate", "serve"]'  # no --host flag: the config decides
    assert ("EXPOSE", "8000 9464") in steps  # the API and the metrics listener (server.metrics_port)
    healthcheck = next(args for word, args in steps if word == "HEALTHCHECK")
    assert "/healthz" in healthcheck


def test_the_gateway_lock_has_no_jobs_extra_and_the_jobs_lock_has_it() -> None:
    project = _project()
    base = [Requirement(r) for r in project["dependencies"]]
    jobs = [Requirement(r) for r in project["optional-dependencies"]["jobs"]]
    gateway_lock, jobs_lock = _locked("gateway"), _locked("jobs")
    for req in base:
        name = canonicalize_name(req.name)
        assert name in gateway_lock and req.specifier.contains(gateway_lock[name]), req
        assert jobs_lock.get(name) == gateway_lock[name], name  # both images run the same gateway code
    for req in jobs:
        name = canonicalize_name(req.name)
        assert name in jobs_lock and req.specifier.contains(jobs_lock[name]), req
    for heavy in ("evidently", "langfuse", "openai", "croniter", "jsonschema"):
        assert heavy not in gateway_lock, heavy
    # Nothing imports it any more (the gateway has its own ASGI tracing middleware).
    assert "opentelemetry-instrumentation-fastapi" not in gateway_lock | jobs_lock


def _ignored(patterns: list[str], path: str) -> bool:
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        if fnmatch.fnmatch(path, body) or fnmatch.fnmatch(path, body.replace("**/", "")):
            ignored = not negate
    return ignored


def test_dockerignore_sends_what_the_images_copy_and_nothing_private() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    needed = ["pyproject.toml", "README.md", "requirements/gateway.lock", "requirements/jobs.lock"]
    needed += ["gateway/app.py", "adapters/churn/predictor.py", "monitoring/schedule.py", "evals/cli.py"]
    for path in needed:
        assert not _ignored(patterns, path), path
    private = [".venv/bin/python", "data/models/churn/model.joblib", "modelgate.yaml", ".git/config"]
    private += ["tests/conftest.py", "gateway/__pycache__/app.cpython-311.pyc"]
    for path in private:
        assert _ignored(patterns, path), path
