"""Per-tenant LLM spend: token pricing, and a ledger that holds a request's worst-case cost before it runs.

    from gateway.budget import Budget, BudgetWouldBeExceeded, Price, create_ledger, estimate_input_tokens

`pricing` holds the pure cost arithmetic, `ledger` the `SpendLedger` Protocol and its types and errors,
`windows` the UTC day/month keys, `sqlite_store` (on a `serial_thread`) and `redis_store` the two stores,
`factory` picks one.
Importing this package opens nothing and starts nothing; `redis` is imported only by `redis_store`.
"""

from gateway.budget.factory import create_ledger
from gateway.budget.ledger import (
    Budget,
    BudgetWouldBeExceeded,
    LedgerError,
    LedgerUnavailable,
    Reservation,
    SpendLedger,
    SpendSnapshot,
    Window,
)
from gateway.budget.pricing import Price, cost_usd, estimate_input_tokens, worst_case_cost

__all__ = [
    "Budget",
    "BudgetWouldBeExceeded",
    "LedgerError",
    "LedgerUnavailable",
    "Price",
    "Reservation",
    "SpendLedger",
    "SpendSnapshot",
    "Window",
    "cost_usd",
    "create_ledger",
    "estimate_input_tokens",
    "worst_case_cost",
]
