"""`modelgate demo` (run.py) and its traffic (traffic.py); its processes come from monitoring.stack."""
