"""Delayed churn labels: ingest billing exports into a label store, and join them to the prediction log.

    modelgate labels ingest billing.csv      # parse, report bad rows, append new records idempotently
    modelgate labels simulate --out x.csv    # a billing export for the logged traffic (demo, tests)

The rules (which label a prediction gets, and when) are written down in docs/labels.md.
"""
