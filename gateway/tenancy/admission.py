"""The LLM lane's tenancy step of admission: the key's model scope, then its rate limits.

    admission = TenantAdmission(directory, limiter)
    admission.check_scope(tenant, "llama")                       # 403 model_not_allowed
    ticket = await admission.admit(tenant, tokens=worst_case)    # 429 rate_limit_exceeded
    ...
    await admission.settle(ticket, tokens=actual)                # tpm corrected; None is a no-op

One object, so the lane calls it at admission and at settlement whatever shape the lane has.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.auth import Tenant
from gateway.ratelimit.limiter import RateLimiter, Ticket
from gateway.tenancy.directory import LiveDirectory

__all__ = ["TenantAdmission", "worst_case_tokens"]


def worst_case_tokens(input_estimate: int, max_tokens: int | None, *, cap: int, n: int) -> int:
    """Tokens a request may use: the prompt estimate plus max_tokens (or the cap) for each choice."""
    return input_estimate + (cap if max_tokens is None else max_tokens) * max(n, 1)


@dataclass
class TenantAdmission:
    directory: LiveDirectory | None = None
    limiter: RateLimiter | None = None

    def check_scope(self, tenant: Tenant, model: str) -> None:
        """403 model_not_allowed when the key may not call `model`."""
        if self.directory is not None:
            self.directory.check_model(tenant, model)

    async def admit(self, tenant: Tenant, *, tokens: int) -> Ticket | None:
        """Record the request in the rate limits (429 when over); None when nothing limits the tenant."""
        if self.limiter is None:
            return None
        return await self.limiter.admit(tenant, tokens=tokens)

    async def settle(self, ticket: Ticket | None, *, tokens: int) -> None:
        if ticket is not None and self.limiter is not None:
            await self.limiter.settle(ticket, tokens=tokens)
