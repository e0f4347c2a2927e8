"""The upstream-call stage: try replicas of the model, then of its fallbacks, until one answers.

`call_with_retries` picks a replica (router.choose), runs one `attempt` against it, and on a failure that
retry.py allows — always before any byte reached the client — marks the replica and tries another, up to
`llm.routing.retries` more times and within the request's deadline.
When no healthy replica of the model is left, the first fallback model with a healthy replica serves
it; when none is left at all, `NoReplicaAvailable` names the model (the client gets 503).

What it returns is a `Lease`: the chosen replica, the served model, the retries taken. The lease holds
the replica's in-flight slot until `end()` — after the last byte of a stream — which also records the
outcome for passive health and the `modelgate_upstream_requests_total` counter. `end()` is idempotent.

    lease, body = await call_with_retries(router, "llama", None, attempt, on_retry=count)
    ...
    lease.end(error=None)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from adapters.vllm.errors import UpstreamFailure, UpstreamTimeoutError
from gateway.routing.retry import health_failure, retryable
from gateway.routing.router import Replica, Router

__all__ = ["Lease", "NoReplicaAvailable", "call_with_retries"]

T = TypeVar("T")

CLIENT_CLOSED = "client_closed"


class NoReplicaAvailable(UpstreamFailure):
    """No healthy replica serves the model (nor any of its fallbacks)."""

    kind = "no_replica"

    def __init__(self, model: str, fallbacks: tuple[str, ...]) -> None:
        also = f" nor its fallback {', '.join(repr(f) for f in fallbacks)}" if fallbacks else ""
        super().__init__(f"no healthy upstream serves model {model!r}{also}; try again shortly")
        self.model = model


class Lease:
    """One request's hold on one replica, from the choice to the last byte."""

    __slots__ = ("_open", "_record", "model", "replica", "requested_model", "retries", "router")

    def __init__(
        self,
        router: Router,
        replica: Replica,
        model: str,
        requested_model: str,
        retries: int,
        record: Callable[[str, str], None] | None,
    ) -> None:
        self.router = router
        self.replica = replica
        self.model = model
        self.requested_model = requested_model
        self.retries = retries
        self._record = record
        self._open = True
        router.acquire(replica)

    @property
    def fallback(self) -> bool:
        return self.model != self.requested_model

    def end(self, error: UpstreamFailure | None, *, client_closed: bool = False) -> None:
        """Release the replica and record the outcome (`ok`, the failure's kind, or `client_closed`)."""
        if not self._open:
            return
        self._open = False
        outcome = CLIENT_CLOSED if client_closed and error is None else (error.kind if error else "ok")
        self.router.release(self.replica, failed=health_failure(error), reason=outcome)
        if self._record is not None:
            self._record(self.replica.name, outcome)


async def call_with_retries(
    router: Router,
    model: str,
    affinity_key: str | None,
    attempt: Callable[[Replica, str], Awaitable[T]],
    *,
    deadline: float,
    record: Callable[[str, str], None] | None = None,
    on_retry: Callable[[str], None] | None = None,
) -> tuple[Lease, T]:
    """Run `attempt(replica, served_model)` until one succeeds; see the module docstring.

    `deadline` is on the event loop's clock (`loop.time()`): every attempt, retries included, must
    have answered by then, or the call ends with UpstreamTimeoutError (not retried).

    `record(upstream, outcome)` is called once per attempt that ends here (failed), and once by the
    returned lease's `end()`; `on_retry(reason)` once per retry.
    """
    plan = router.plan(model)
    retries_left = router.routing.retries
    retries = 0
    tried: set[str] = set()
    last_error: UpstreamFailure | None = None
    for served in plan:
        while True:
            replica = router.choose(served, affinity_key, tried)
            if replica is None:
                break  # nothing left for this model: its fallback, if any
            lease = Lease(router, replica, served, model, retries, record)
            try:
                try:
                    async with asyncio.timeout_at(deadline):
                        result = await attempt(replica, served)
                except TimeoutError:
                    raise UpstreamTimeoutError("upstream did not answer in time") from None
            except UpstreamFailure as exc:
                lease.end(exc)
                if not retryable(exc) or retries_left == 0:
                    raise
                last_error = exc
                tried.add(replica.name)
                retries_left -= 1
                retries += 1
                if on_retry is not None:
                    on_retry(exc.kind)
                continue
            except BaseException:
                # Cancelled (the server is stopping) or a bug: nothing was delivered.
                lease.end(None, client_closed=True)
                raise
            return lease, result
    if last_error is not None:
        raise last_error
    raise NoReplicaAvailable(model, plan[1:])
