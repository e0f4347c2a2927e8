"""The gateway image installs no `jobs` extra (evidently, langfuse, openai, croniter, jsonschema):
the gateway must build and serve without them, and a job command must say what to install.

Each check runs in a fresh interpreter whose import system refuses those modules, as a gateway-only
install would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from gateway.cli import JOBS_EXTRA_MODULES
from support.servers import REPO

BLOCKER = textwrap.dedent(
    f"""
    import importlib.abc, sys
    BLOCKED = {sorted(JOBS_EXTRA_MODULES)!r}
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None
    sys.meta_path.insert(0, Block())
    """
)


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_the_gateway_app_builds_and_answers_without_the_jobs_extra(tmp_path: Path) -> None:
    done = _run(
        """
        import os
        from fastapi.testclient import TestClient
        from gateway.app import create_app
        from gateway.settings import Settings
        settings = Settings(
            mode="development",
            development_key="mg-dev-0123456789abcdef",
            data_dir=os.environ["TEST_DATA_DIR"],
            llm={"upstream_url": "http://127.0.0.1:9/v1", "models": ["m"], "billing": False},
        )
        with TestClient(create_app(settings)) as client:
            assert client.get("/healthz").status_code == 200
            assert client.get("/metrics").status_code == 200
        print("ok")
        """,
        TEST_DATA_DIR=str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_a_job_command_without_the_extra_says_what_to_install() -> None:
    done = _run(
        """
        import sys
        from gateway.cli import main
        sys.exit(main(["eval", "run", "core", "--base-url", "http://127.0.0.1:9/v1", "--api-key", "k"]))
        """
    )
    assert done.returncode == 2, done.stderr
    # whichever of the extra's modules the command imports first is the one named
    assert re.fullmatch(
        r"modelgate eval: needs the jobs extra "
        r"\(missing (openai|jsonschema|scipy|croniter|evidently|langfuse)\): "
        r"pip install 'modelgate\[jobs\]'",
        done.stderr.strip(),
    ), done.stderr
