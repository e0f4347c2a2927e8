"""Small test helpers shared across tiers (`from support.conftest_helpers import ...`)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

# API keys of the test tenants (their hashes go into test configs).
ACME_KEY = "mg-test-acme-0123456789abcdef"
GLOBEX_KEY = "mg-test-globex-0123456789abcdef"
DEV_KEY = "mg-dev-test-key-0123456789"

# One valid churn customer (the features of POST /v1/churn/predict).
CHURN_CUSTOMER = {
    "tenure_months": 4,
    "monthly_charges": 89.9,
    "total_charges": 350.0,
    "support_tickets": 3,
    "contract_type": "month-to-month",
    "payment_method": "electronic_check",
    "internet_service": "fiber_optic",
}


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parse a Prometheus exposition into {(sample name, sorted labels): value}."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out
