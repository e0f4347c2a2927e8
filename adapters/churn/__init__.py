"""The churn model adapter: synthetic data, training, the versioned artifact and the fast predictor.

Modules (import the one you need; this package imports nothing on its own):

- `schema`     the feature contract every part reads (names, categories, served ranges)
- `generator`  synthetic customers with a known churn function and covariate/concept-shift knobs
- `train`      fit scaler + one-hot + logistic regression and write the artifact (`modelgate churn train`)
- `artifact`   the artifact's files, `ArtifactMetadata`, `load_metadata`, the error tree
- `predictor`  `ChurnPredictor`: the pipeline's arithmetic in plain Python, ~1 µs per row
- `protocol`   `Predictor`, the Protocol the gateway depends on
- `cli`        `modelgate churn train`
"""
