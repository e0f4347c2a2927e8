"""Helpers shared by the eval tests (`from support.evals_helpers import ...`)."""

import httpx

from evals.suite import default_suites_dir

CORE_ANSWERS = default_suites_dir() / "core.answers.jsonl"
MODEL = "sim-eval-model"


def set_faults(base_url: str, **faults) -> None:
    """Change the running simulator's fault injection (wrong-rate, failures, hangs)."""
    response = httpx.post(f"{base_url}/admin/faults", json=faults, timeout=5)
    response.raise_for_status()
