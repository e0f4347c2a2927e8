"""The live stack the demo and the scorecard share: loopback child processes, real Prometheus, Alertmanager.

`processes` (a free port, a graceful stop), `prometheus` (Debian's `prometheus` with the project's own
rules, rewritten only where a run must differ) and `alertmanager` (Debian's `prometheus-alertmanager`
with deploy/alertmanager.yml). Nothing here imports the gateway: it is started as a subprocess and
talked to over HTTP.
"""
