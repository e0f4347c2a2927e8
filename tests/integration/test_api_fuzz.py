"""No generated request gets a 5xx: schemathesis over the whole OpenAPI document, plus hypothesis bodies
for the LLM routes, against a real gateway and the vLLM simulator on 127.0.0.1.

Every operation in /openapi.json is called with schemathesis' positive cases (valid per the schema) and
negative ones (each violating it somewhere), with and without the API key; then arbitrary JSON values are
put into the fields the LLM parser reads. At least 5,000 requests in all; any response ≥ 500 fails the
test and is printed with its exact body. (FUZZ_EXAMPLES / FUZZ_LLM_EXAMPLES / FUZZ_PART=schema|llm narrow
a run by hand; `make test` uses the defaults.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from adapters.vllm.sim.config import SimConfig
from support.conftest_helpers import DEV_KEY
from support.llm_stack import LLMStack, llm_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

AUTH = {"Authorization": f"Bearer {DEV_KEY}"}
ADMIN_KEY = "mg-admin-fuzz-0123456789abcdef"
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
MIN_CASES = 5000
# Per operation and mode; operations with nothing to vary stop after their few distinct cases.
SCHEMA_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 150))
LLM_EXAMPLES = int(os.environ.get("FUZZ_LLM_EXAMPLES", 3200))


@dataclass
class Tally:
    calls: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)

    def record(self, status: int, what: str) -> None:
        self.calls += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status >= 500 and len(self.server_errors) < 20:
            self.server_errors.append(f"{status} {what}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, churn_artifact: Any) -> Iterator[LLMStack]:
    from gateway.auth import hash_key
    from gateway.settings import Settings

    data = tmp_path_factory.mktemp("fuzz")

    def make_settings(**overrides: Any) -> Settings:
        return Settings(
            mode="development",
            development_key=DEV_KEY,
            data_dir=str(data),
            churn={"artifact_dir": str(churn_artifact), "batch_limit": 50},
            prediction_log={"flush_rows": 1000, "flush_seconds": 1.0},
            **overrides,
        )

    sim = SimConfig(ttft_ms=0, itl_ms=0, tokens=4, seed=3)
    with llm_stack(make_settings, sim=sim, admin={"key_sha256": [hash_key(ADMIN_KEY)]}) as running:
        yield running


def _schema_cases(stack: LLMStack, tally: Tally) -> None:
    doc = httpx.get(f"{stack.gateway_url}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(doc)
    session = requests.Session()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/churn/predict",
        "/v1/churn/predict/batch",
        "/v1/budget",
        "/v1/models",
        "/readyz",
        "/admin/v1/tenants",
        "/admin/v1/tenants/{name}",
        "/admin/v1/tenants/{name}/keys",
        "/admin/v1/keys/{key_id}",
    }
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)

            @settings(
                max_examples=SCHEMA_EXAMPLES,
                deadline=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            @given(case=strategy, with_key=st.sampled_from([True, True, True, False]))
            def call(case: Any, with_key: bool) -> None:
                if with_key:  # over any Authorization schemathesis generated from the security scheme
                    admin = case.path.startswith("/admin/")
                    case.headers = {**(case.headers or {}), **(ADMIN_AUTH if admin else AUTH)}
                body = case.body if not isinstance(case.body, bytes) else case.body[:300]
                what = f"{case.method} {case.formatted_path} query={case.query!r:.200} body={body!r:.600}"
                try:
                    response = case.call(
                        base_url=stack.gateway_url,
                        session=session,
                        timeout=30,
                    )
                except requests.RequestException as exc:  # a dropped connection is a failure too
                    tally.record(599, f"{what} ({type(exc).__name__})")
                    return
                tally.record(response.status_code, what)

            try:
                call()
            except Exception as exc:  # a mode schemathesis cannot produce for this operation
                if "Unsatisfiable" not in type(exc).__name__ and "negative" not in str(exc).lower():
                    raise


_json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
_json_value = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=30,
)
_llm_fields = [
    "model",
    "messages",
    "prompt",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "n",
    "best_of",
    "stop",
    "temperature",
    "logprobs",
    "user",
    "cache_salt",
]


@st.composite
def llm_body(draw: st.DrawFn) -> dict[str, Any]:
    """A body that is mostly right (so the parser's deeper checks run) with arbitrary values mixed in."""
    body: dict[str, Any] = {"model": "sim-llama-3-8b", "max_tokens": 4}
    if draw(st.booleans()):
        body["messages"] = [{"role": "user", "content": draw(st.text(max_size=20))}]
    else:
        body["prompt"] = draw(st.text(max_size=20))
    for name in draw(st.lists(st.sampled_from(_llm_fields), max_size=4, unique=True)):
        body[name] = draw(_json_value)
    return body


def _llm_cases(stack: LLMStack, tally: Tally) -> None:
    client = httpx.Client(base_url=stack.gateway_url, headers=AUTH, timeout=30)

    @settings(
        max_examples=LLM_EXAMPLES,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(path=st.sampled_from(["/v1/chat/completions", "/v1/completions"]), body=llm_body())
    def call(path: str, body: dict[str, Any]) -> None:
        # allow_nan: NaN and Infinity are what a sloppy client sends; the gateway must refuse them cleanly.
        raw = json.dumps(body, allow_nan=True)
        try:
            response = client.post(path, content=raw, headers={"content-type": "application/json"})
        except httpx.TransportError as exc:  # a dropped connection is a failure too
            tally.record(599, f"POST {path} body={raw[:600]} ({type(exc).__name__})")
            return
        tally.record(response.status_code, f"POST {path} body={raw[:600]}")

    call()
    client.close()


def test_no_generated_request_gets_a_server_error(stack: LLMStack) -> None:
    tally = Tally()
    if os.environ.get("FUZZ_PART") != "llm":
        _schema_cases(stack, tally)
    if os.environ.get("FUZZ_PART") != "schema":
        _llm_cases(stack, tally)
    print(f"\n{tally.calls} generated requests; statuses {dict(sorted(tally.statuses.items()))}")
    assert tally.server_errors == [], "\n".join(tally.server_errors)
    assert tally.calls >= MIN_CASES
    # The run reached past validation too: some requests were served.
    assert tally.statuses.get(200, 0) > 100
