"""The `llm:` section of modelgate.yaml: the upstream fleet, prices, deadlines and request limits.

Part of the one typed `Settings` (gateway/settings.py re-exports it); kept here, next to the LLM lane
that reads it, so the settings module stays a table of contents.
"""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from gateway.routing.config import RoutingSettings, UpstreamSettings

__all__ = ["LLMSettings", "PriceSettings"]

_STRICT = ConfigDict(extra="forbid")


class PriceSettings(BaseModel):
    model_config = _STRICT
    input_per_mtok: float = Field(..., ge=0, description="USD per million input (prompt) tokens.")
    output_per_mtok: float = Field(..., ge=0, description="USD per million output (completion) tokens.")


class LLMSettings(BaseModel):
    model_config = _STRICT
    upstream_url: str | None = Field(
        None,
        description="Base URL of one OpenAI-compatible upstream (vLLM), e.g. http://127.0.0.1:8001/v1; "
        "a fleet of one replica. Use llm.upstreams for more.",
    )
    upstreams: list[UpstreamSettings] = Field(
        default_factory=list,
        description="The vLLM replicas: name, url, models, weight (see docs/configuration.md#fleet).",
    )
    fallbacks: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Per model, the models that serve its requests (in order) when every replica of it "
        "is out.",
    )
    routing: RoutingSettings = Field(
        default_factory=RoutingSettings,  # type: ignore[arg-type]
        description="Load balancing, health checks, retries and session affinity across llm.upstreams.",
    )
    models: list[str] = Field(
        default_factory=list,
        description="Models served (the models of llm.upstreams are added); any other model name is "
        "labelled 'other'.",
    )
    prices: dict[str, PriceSettings] = Field(default_factory=dict, description="Price table per model.")
    billing: bool = Field(True, description="Bill tenants; when on, every model must have a price.")
    connect_timeout_s: float = Field(2.0, gt=0, description="Upstream TCP connect timeout.")
    first_byte_timeout_s: float = Field(
        30.0,
        gt=0,
        # The old name keeps working in config files and env overrides.
        validation_alias=AliasChoices("first_byte_timeout_s", "first_token_timeout_s"),
        description=(
            "Upstream time allowed from sending the request to the first byte of the answer: the "
            "headers and the first body chunk (a stream's first token). Formerly first_token_timeout_s."
        ),
    )
    chunk_timeout_s: float = Field(
        30.0, gt=0, description="Longest silence allowed between two chunks of an upstream answer."
    )
    total_timeout_s: float = Field(300.0, gt=0, description="Upstream time allowed for the whole response.")
    max_sse_line_bytes: int = Field(
        1_048_576, ge=1024, description="Longest SSE line accepted from the upstream; longer ends the stream."
    )
    max_sse_event_bytes: int = Field(
        4_194_304,
        ge=1024,
        description="Largest SSE event (its lines up to the blank line) accepted from the upstream.",
    )
    max_response_bytes: int = Field(
        16_777_216, ge=1024, description="Largest non-streaming upstream body accepted; larger gets 502."
    )
    max_tokens_cap: int = Field(
        4096,
        ge=1,
        description="Most output tokens per generated sequence: a larger max_tokens is a 400, and a request "
        "with no limit (chat without max_tokens, completions with max_tokens: null) gets this one.",
    )
    max_n: int = Field(16, ge=1, le=128, description="Largest `n` (and `best_of`) a request may ask for.")
    max_prompts: int = Field(
        128, ge=1, description="Most prompts in one /v1/completions request (each gets its own n choices)."
    )
    max_messages: int = Field(2048, ge=1, description="Most messages in one chat request.")
    max_stop: int = Field(16, ge=1, description="Most stop sequences in one request.")
    max_json_depth: int = Field(32, ge=4, le=256, description="Deepest nesting of a request body's JSON.")
    extra_forward_fields: list[str] = Field(
        default_factory=list,
        description="vLLM request fields forwarded besides OpenAI's and the default allow-list "
        "(docs/api.md); any other field is refused with a 400.",
    )
    tenant_cache_salt: bool = Field(
        False,
        description="Give each tenant's requests their own vLLM cache_salt, so the prefix cache cannot leak "
        "one tenant's prompts to another by timing.",
    )
    cache_salt_secret: str | None = Field(
        None,
        min_length=16,
        description="Secret the per-tenant cache_salt is derived from; unset, a random one per process "
        "(set it in a fleet so replicas share a tenant's cache entries).",
    )
    max_concurrent_per_tenant: int = Field(
        64,
        ge=1,
        description="Most LLM requests of one tenant in flight on one gateway replica; more get 429 "
        "concurrency_limit_exceeded.",
    )
    client_send_timeout_s: float = Field(
        30.0,
        gt=0,
        description="A stream whose client does not take a chunk within this long is ended (the upstream "
        "request is cancelled and what was generated is billed).",
    )
    pool_size: int = Field(512, ge=1, description="Most pooled keep-alive connections to the upstream.")
    log_uri: str | None = Field(
        None, description="LLM request log folder or URI; default <data_dir>/llm-log."
    )
    log_content: bool = Field(
        False, description="Also log prompts and completions (for judged samples); metadata is always logged."
    )
