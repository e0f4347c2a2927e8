"""The fast churn predictor: the trained pipeline's arithmetic, lifted out of scikit-learn.

A scikit-learn `predict_proba` on a one-row DataFrame costs milliseconds (input validation, column
selection, the DataFrame itself); the model behind it is a dot product. `ChurnPredictor` loads the
pipeline once, folds the scaler into the logistic-regression weights and turns each one-hot block into
a `category -> weight` table, so a prediction is seven multiply-adds and one `exp`:

    z = bias + Σ w_f · x_f (numeric)  +  Σ table_f[x_f] (categorical);   p = 1 / (1 + e^-z)

where `w_f = coef_f / scale_f` and `bias = intercept - Σ coef_f · mean_f / scale_f`.

    >>> predictor = ChurnPredictor.load(Path("data/models/churn"))          # doctest: +SKIP
    >>> predictor.predict_one({"tenure_months": 3, "monthly_charges": 95.0, ...})  # doctest: +SKIP
    0.61...

Only the pipeline shape `adapters.churn.train.build_pipeline` makes is understood; anything else
(another estimator, a dropped category, infrequent-category grouping, extra steps) is refused with
`UnsupportedPipelineError` rather than mis-predicted. `model.joblib` is a pickle: load only artifacts
you trust.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from adapters.churn.artifact import (
    MODEL_FILE,
    ArtifactError,
    ArtifactMetadata,
    UnsupportedPipelineError,
    load_metadata,
)
from adapters.churn.schema import CATEGORICAL_FEATURES, CATEGORIES, NUMERIC_FEATURES

__all__ = ["ChurnPredictor", "LinearModel", "extract_linear_model"]

FloatArray = npt.NDArray[np.float64]

# Batches at least this long are scored with numpy; shorter ones row by row (measured crossover ≈ 20-30).
_VECTORISE_FROM = 32


@dataclass(frozen=True)
class LinearModel:
    """The pipeline reduced to plain numbers: `z = bias + Σ numeric[f]·x_f + Σ categorical[f][x_f]`."""

    bias: float
    numeric: dict[str, float]
    categorical: dict[str, dict[str, float]]


def extract_linear_model(pipeline: object) -> LinearModel:
    """Read the weights out of a fitted scaler + one-hot + logistic-regression pipeline.

    Raises `UnsupportedPipelineError` naming the first thing that does not fit that shape.
    """
    # Exact types throughout: a subclass may override the very method whose arithmetic is mirrored here.
    if not isinstance(pipeline, Pipeline) or type(pipeline) is not Pipeline:
        raise UnsupportedPipelineError(f"expected a sklearn Pipeline, got {type(pipeline).__name__}")
    steps = [step for _, step in pipeline.steps]
    if len(steps) != 2 or type(steps[0]) is not ColumnTransformer:
        raise UnsupportedPipelineError(
            f"expected Pipeline(ColumnTransformer, LogisticRegression), got steps {_names(steps)}"
        )
    transformer, estimator = steps
    if transformer.transformer_weights:
        raise UnsupportedPipelineError("ColumnTransformer with transformer_weights is not supported")
    coef, intercept = _logistic_weights(estimator)
    width = _output_width(transformer)
    if coef.shape[0] != width:
        raise UnsupportedPipelineError(f"model has {coef.shape[0]} weights for {width} encoded columns")

    bias = intercept
    numeric: dict[str, float] = {}
    categorical: dict[str, dict[str, float]] = {}
    for name, fitted, columns in transformer.transformers_:
        cols = _column_names(name, columns)
        block = coef[transformer.output_indices_[name]]
        if fitted == "drop" or not cols:
            continue
        if type(fitted) is StandardScaler:
            bias += _fold_scaler(fitted, cols, block, numeric)
        elif type(fitted) is OneHotEncoder:
            _one_hot_tables(fitted, cols, block, categorical)
        else:
            raise UnsupportedPipelineError(
                f"transformer {name!r} is {_names([fitted])[0]}; only StandardScaler and OneHotEncoder"
            )
    missing = [
        f for f in (*NUMERIC_FEATURES, *CATEGORICAL_FEATURES) if f not in numeric and f not in categorical
    ]
    if missing:
        raise UnsupportedPipelineError(f"pipeline does not encode features {missing}")
    return LinearModel(bias=bias, numeric=numeric, categorical=categorical)


def _names(steps: Sequence[object]) -> list[str]:
    return [s if isinstance(s, str) else type(s).__name__ for s in steps]


def _logistic_weights(estimator: object) -> tuple[FloatArray, float]:
    if not isinstance(estimator, LogisticRegression) or type(estimator) is not LogisticRegression:
        raise UnsupportedPipelineError(f"final step is {type(estimator).__name__}, not LogisticRegression")
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        raise UnsupportedPipelineError("LogisticRegression is not fitted")
    if list(classes) != [0, 1]:
        raise UnsupportedPipelineError(f"expected binary classes [0, 1], got {list(classes)}")
    coef = np.asarray(estimator.coef_, dtype=np.float64)
    if coef.ndim != 2 or coef.shape[0] != 1:
        raise UnsupportedPipelineError(f"expected one row of coefficients, got shape {coef.shape}")
    return coef[0], float(np.asarray(estimator.intercept_, dtype=np.float64).reshape(-1)[0])


def _output_width(transformer: ColumnTransformer) -> int:
    indices = getattr(transformer, "output_indices_", None)
    if not indices:
        raise UnsupportedPipelineError("ColumnTransformer is not fitted")
    return max((s.stop for s in indices.values()), default=0)


def _column_names(name: str, columns: Any) -> list[str]:
    if isinstance(columns, str):
        return [columns]
    try:
        names = list(columns)
    except TypeError:
        raise UnsupportedPipelineError(f"transformer {name!r} selects columns by {columns!r}") from None
    if not all(isinstance(c, str) for c in names):
        raise UnsupportedPipelineError(f"transformer {name!r} selects columns by position, not by name")
    return names


def _fold_scaler(scaler: StandardScaler, cols: list[str], block: FloatArray, out: dict[str, float]) -> float:
    """Put `coef/scale` per numeric column into `out`; return the bias term `-Σ coef·mean/scale`."""
    unknown = [c for c in cols if c not in NUMERIC_FEATURES]
    if unknown:
        raise UnsupportedPipelineError(f"StandardScaler is applied to non-numeric features {unknown}")
    n = len(cols)
    mean = np.asarray(scaler.mean_, dtype=np.float64) if scaler.with_mean else np.zeros(n)
    scale = np.asarray(scaler.scale_, dtype=np.float64) if scaler.with_std else np.ones(n)
    if mean.shape != (n,) or scale.shape != (n,) or block.shape != (n,):
        raise UnsupportedPipelineError("StandardScaler statistics do not match its columns")
    shift = 0.0
    for col, m, s, w in zip(cols, mean, scale, block, strict=True):
        if col in out:
            raise UnsupportedPipelineError(f"feature {col!r} is encoded twice")
        out[col] = float(w / s)
        shift -= float(w * m / s)
    return shift


def _one_hot_tables(
    encoder: OneHotEncoder, cols: list[str], block: FloatArray, out: dict[str, dict[str, float]]
) -> None:
    """Put a `category -> weight` table per categorical column into `out`."""
    if getattr(encoder, "drop_idx_", None) is not None:
        raise UnsupportedPipelineError("OneHotEncoder with drop= is not supported")
    # Infrequent-category grouping is on exactly when one of these public parameters is set.
    if (
        getattr(encoder, "min_frequency", None) is not None
        or getattr(encoder, "max_categories", None) is not None
    ):
        raise UnsupportedPipelineError("OneHotEncoder with infrequent-category grouping is not supported")
    categories = list(encoder.categories_)
    if len(categories) != len(cols) or sum(len(c) for c in categories) != block.shape[0]:
        raise UnsupportedPipelineError("OneHotEncoder categories do not match its output columns")
    start = 0
    for col, cats in zip(cols, categories, strict=True):
        if col not in CATEGORIES:
            raise UnsupportedPipelineError(f"OneHotEncoder is applied to non-categorical feature {col!r}")
        if col in out:
            raise UnsupportedPipelineError(f"feature {col!r} is encoded twice")
        table = {str(cat): float(block[start + i]) for i, cat in enumerate(cats)}
        start += len(cats)
        # A served category the encoder never saw would make sklearn raise; refuse now instead.
        unseen = [c for c in CATEGORIES[col] if c not in table]
        if unseen:
            raise UnsupportedPipelineError(f"OneHotEncoder for {col!r} does not know categories {unseen}")
        out[col] = table


def _sigmoid(z: float) -> float:
    # Two branches so exp never overflows for very negative or very positive z.
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class ChurnPredictor:
    """Implements `adapters.churn.protocol.Predictor` with plain arithmetic over extracted weights."""

    def __init__(
        self, model: LinearModel, *, version: str, threshold: float, metadata: ArtifactMetadata | None = None
    ) -> None:
        self.version = version
        self.threshold = threshold
        self.metadata = metadata
        self.model = model
        self._bias = model.bias
        # Tuples of pairs iterate faster than dict items in the per-request loop.
        self._numeric = tuple(model.numeric.items())
        self._categorical = tuple(model.categorical.items())

    @classmethod
    def load(cls, artifact_dir: Path) -> ChurnPredictor:
        """Load `model.joblib` and `metadata.json` from an artifact directory, once."""
        artifact_dir = Path(artifact_dir)
        metadata = load_metadata(artifact_dir)
        path = artifact_dir / MODEL_FILE
        try:
            pipeline = joblib.load(path)
        except FileNotFoundError:
            raise ArtifactError(f"{path} not found") from None
        except Exception as exc:  # a pickle can fail in many ways; all mean "cannot use this file"
            raise ArtifactError(f"{path} could not be loaded: {type(exc).__name__}: {exc}") from exc
        try:
            model = extract_linear_model(pipeline)
        except UnsupportedPipelineError as exc:
            raise UnsupportedPipelineError(f"{path}: {exc}") from None
        return cls(model, version=metadata.version, threshold=metadata.threshold, metadata=metadata)

    @classmethod
    def from_pipeline(
        cls,
        pipeline: object,
        *,
        version: str,
        threshold: float = 0.5,
        metadata: ArtifactMetadata | None = None,
    ) -> ChurnPredictor:
        """Wrap an in-memory fitted pipeline (tests, notebooks)."""
        return cls(extract_linear_model(pipeline), version=version, threshold=threshold, metadata=metadata)

    def predict_one(self, features: Mapping[str, object]) -> float:
        """The churn probability of one validated customer (pure Python, no numpy or pandas)."""
        row: Mapping[str, Any] = features
        z = self._bias
        try:
            for name, weight in self._numeric:
                z += weight * row[name]
            for name, table in self._categorical:
                z += table[row[name]]
        except KeyError as exc:  # free when nothing is raised; the caller should have validated
            raise ValueError(f"unknown feature or category {exc.args[0]!r}") from None
        return _sigmoid(z)

    def predict_many(self, rows: Sequence[Mapping[str, object]]) -> FloatArray:
        """The churn probabilities of several validated customers: numpy per column for real batches."""
        n = len(rows)
        if n < _VECTORISE_FROM:
            # numpy's per-call overhead outweighs its speed on a handful of rows.
            return np.array([self.predict_one(row) for row in rows], dtype=np.float64)
        data: Sequence[Mapping[str, Any]] = rows
        z = np.full(n, self._bias, dtype=np.float64)
        try:
            # One pass per feature; `fromiter` over a list avoids a 2-D intermediate array.
            for name, weight in self._numeric:
                z += weight * np.fromiter([row[name] for row in data], dtype=np.float64, count=n)
            for name, table in self._categorical:
                z += np.fromiter([table[row[name]] for row in data], dtype=np.float64, count=n)
        except KeyError as exc:
            raise ValueError(f"unknown feature or category {exc.args[0]!r}") from None
        e = np.exp(-np.abs(z))
        p: FloatArray = np.where(z >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))
        return p

    def __repr__(self) -> str:
        return f"ChurnPredictor(version={self.version!r}, threshold={self.threshold})"
