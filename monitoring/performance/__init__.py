"""Churn-model performance after delayed labels, and a label-free estimate until they arrive.

    modelgate performance --days 90 --window weekly --html reports/performance.html

`classification` and `cbpe` are the pure math (AUC, confusion metrics, bootstrap intervals, the
confidence-based estimate); `evaluate` scores windows and judges the gate; `job` does the I/O; `chart` and
`report` draw the HTML. The rules are in docs/labels.md.
"""
