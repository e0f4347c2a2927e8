"""What the app builds in its lifespan and keeps on `app.state.services`; routes reach it via deps.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.metrics import GatewayMetrics
from gateway.settings import Settings

if TYPE_CHECKING:
    from gateway.churn.serving import ChurnServing
    from gateway.llm.service import LLMService
    from gateway.ratelimit.limiter import RateLimiter
    from gateway.tenancy.directory import LiveDirectory
    from gateway.tenancy.store import TenantStore
    from gateway.tracing.setup import Tracing

__all__ = ["Services"]


@dataclass
class Services:
    settings: Settings
    metrics: GatewayMetrics
    tenants: LiveDirectory
    tracing: Tracing
    churn: ChurnServing | None = None
    churn_error: str | None = None  # why the churn model is not loaded, for /readyz
    llm: LLMService | None = None
    store: TenantStore | None = None
    rate_limiter: RateLimiter | None = None
