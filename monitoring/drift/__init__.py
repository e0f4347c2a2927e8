"""Data and prediction drift of the churn model: `modelgate drift data|prediction|simulate`.

Modules (this package imports nothing on its own; Evidently loads only inside a job):

- `cli`        the subcommands, exit codes (0 no drift, 1 drift, 2 bad input), JSON out, job-result publish
- `jobs`       one drift run: window -> reference -> checks -> Evidently -> verdict -> summary
- `engine`     Evidently 0.7 behind `run_drift` (ValueDrift + DriftedColumnsCount, HTML on request)
- `verdict`    pure: per-column results -> share of drifted columns -> gates
- `checks`     pure: refuse missing columns, NaNs, unseen categories, empty frames
- `reference`  which artifact belongs to a model version; reading its reference files
- `segments`   `--by tenant` with pinned methods
- `selftest`   `drift prediction --self-test`
- `simulate`   write generated, scored windows into the prediction-log layout
- `export`     the gauges a run publishes
- `settings`   the `monitoring.drift` config section
- `errors`     `DriftInputError`

The window reader shared with the label jobs is `gateway.logcontract.window`; progress and notes on stderr
come from `monitoring.progress`, argument parsing from `adapters.cli_args`.
"""
