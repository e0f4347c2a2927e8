"""`modelgate demo` (run.py), its traffic (traffic.py) and the local Prometheus it starts (prometheus.py)."""
