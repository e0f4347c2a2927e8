"""Tenants and API keys shared by every replica, managed while the gateway runs.

`records` holds the types and errors, `store` the `TenantStore` Protocol, `sqlite_store` and `redis_store`
its two backends (the budget ledger's: SQLite on one host, Redis for a fleet), `factory` picks one,
`config_import` brings modelgate.yaml's tenants in, and `directory` is the in-memory view each replica
authenticates against and keeps fresh. Importing this package opens nothing.
"""
