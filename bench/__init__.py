"""Benchmarks: throughput, latency and overhead figures against a baseline measured in the same run.

Figures are printed, never asserted as timings in tests (`make bench` runs them).
"""
