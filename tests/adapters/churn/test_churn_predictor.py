"""The fast predictor gives the pipeline's own probabilities, and refuses pipelines it cannot mirror."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

from adapters.churn.artifact import ArtifactError, ArtifactMetadata, UnsupportedPipelineError, load_metadata
from adapters.churn.generator import ShiftSpec, generate_customers, generate_labelled
from adapters.churn.predictor import ChurnPredictor
from adapters.churn.protocol import Predictor
from adapters.churn.schema import CATEGORICAL_FEATURES, CATEGORIES, FEATURE_NAMES, NUMERIC_FEATURES
from adapters.churn.train import build_pipeline


@pytest.fixture(scope="module")
def artifact(churn_artifact: Path) -> tuple[Path, ArtifactMetadata]:
    """The session's shared trained artifact (tests/conftest.py) and its metadata."""
    return churn_artifact, load_metadata(churn_artifact)


@pytest.fixture(scope="module")
def training() -> pd.DataFrame:
    return generate_labelled(1500, seed=5)


def random_rows(n: int, seed: int) -> pd.DataFrame:
    """Half generator customers under a strong shift, half uniform over the whole served ranges
    (absurdly large bills included, so the sigmoid saturates on both sides)."""
    half = n // 2
    shifted = generate_customers(
        half, seed=seed, shift=ShiftSpec(price_factor=1.4, tenure_factor=0.5, month_to_month_share=0.5)
    )
    rng = np.random.default_rng(seed)
    wide = pd.DataFrame(
        {
            "tenure_months": rng.integers(0, 601, n - half),
            "monthly_charges": rng.uniform(0, 10_000, n - half).round(2),
            "total_charges": rng.uniform(0, 1_000_000, n - half).round(2),
            # half with no tickets, so long tenures can push the score to ~0 as well as to ~1
            "support_tickets": rng.integers(0, 1001, n - half) * (np.arange(n - half) % 2),
            **{c: rng.choice(np.array(CATEGORIES[c], dtype=object), n - half) for c in CATEGORICAL_FEATURES},
        }
    )
    return pd.concat([shifted, wide[list(FEATURE_NAMES)]], ignore_index=True)


def test_probabilities_equal_the_pipelines_on_5000_random_rows(
    artifact: tuple[Path, ArtifactMetadata],
) -> None:
    out, _ = artifact
    predictor = ChurnPredictor.load(out)
    pipeline = joblib.load(out / "model.joblib")
    frame = random_rows(5000, seed=77)
    expected = pipeline.predict_proba(frame)[:, 1]
    assert expected.min() < 1e-6 and expected.max() > 1 - 1e-6  # the saturated tails are covered
    rows = frame.to_dict("records")

    one = np.array([predictor.predict_one(row) for row in rows])
    np.testing.assert_allclose(one, expected, rtol=0, atol=1e-9)
    many = predictor.predict_many(rows)
    assert many.shape == (5000,) and many.dtype == np.float64
    np.testing.assert_allclose(many, expected, rtol=0, atol=1e-9)
    # short batches take the row-by-row path
    np.testing.assert_allclose(predictor.predict_many(rows[:5]), expected[:5], rtol=0, atol=1e-9)
    assert predictor.predict_many([]).shape == (0,)


def test_plain_python_values_are_accepted(artifact: tuple[Path, ArtifactMetadata]) -> None:
    # The gateway passes JSON-decoded values: ints for floats, plain str; no numpy scalars.
    out, _ = artifact
    predictor = ChurnPredictor.load(out)
    row: dict[str, object] = {
        "tenure_months": 5,
        "monthly_charges": 99,
        "total_charges": 495,
        "support_tickets": 3,
        "contract_type": "month-to-month",
        "payment_method": "electronic_check",
        "internet_service": "fiber_optic",
    }
    expected = joblib.load(out / "model.joblib").predict_proba(pd.DataFrame([row]))[0, 1]
    assert predictor.predict_one(row) == pytest.approx(expected, abs=1e-12)


def test_load_exposes_version_threshold_metadata_and_the_protocol(
    artifact: tuple[Path, ArtifactMetadata],
) -> None:
    out, meta = artifact
    predictor = ChurnPredictor.load(out)
    as_protocol: Predictor = predictor  # mypy checks the structural match; isinstance checks it at runtime
    assert isinstance(as_protocol, Predictor)
    assert predictor.version == meta.version
    assert predictor.threshold == meta.threshold == 0.5
    assert predictor.metadata == meta


def test_unknown_category_raises_a_clear_error(artifact: tuple[Path, ArtifactMetadata]) -> None:
    predictor = ChurnPredictor.load(artifact[0])
    row = generate_customers(1, seed=1).to_dict("records")[0]
    row["internet_service"] = "satellite"
    with pytest.raises(ValueError, match="satellite"):
        predictor.predict_one(row)
    with pytest.raises(ValueError, match="satellite"):
        predictor.predict_many([row] * 40)


def test_reordered_transformers_are_still_mirrored(training: pd.DataFrame) -> None:
    # The predictor reads each block's place from the fitted ColumnTransformer, not from an assumption.
    encoder = OneHotEncoder(categories=[list(CATEGORIES[c]) for c in reversed(CATEGORICAL_FEATURES)])
    features = ColumnTransformer(
        [
            ("cat", encoder, list(reversed(CATEGORICAL_FEATURES))),
            ("num", StandardScaler(), list(NUMERIC_FEATURES)),
        ]
    )
    pipeline = Pipeline([("f", features), ("lr", LogisticRegression(max_iter=1000))])
    pipeline.fit(training[list(FEATURE_NAMES)], training["churned"])
    predictor = ChurnPredictor.from_pipeline(pipeline, version="t")
    frame = random_rows(400, seed=3)
    np.testing.assert_allclose(
        predictor.predict_many(frame.to_dict("records")), pipeline.predict_proba(frame)[:, 1], atol=1e-9
    )


def _unsupported_pipelines() -> dict[str, Any]:
    cats = [list(CATEGORIES[c]) for c in CATEGORICAL_FEATURES]

    def with_features(num: Any, cat: Any, **ct: Any) -> Pipeline:
        features = ColumnTransformer(
            [("num", num, list(NUMERIC_FEATURES)), ("cat", cat, list(CATEGORICAL_FEATURES))], **ct
        )
        return Pipeline([("f", features), ("lr", LogisticRegression(max_iter=1000))])

    forest = build_pipeline()
    forest.steps[-1] = ("model", RandomForestClassifier(n_estimators=3, random_state=0))
    three_steps = build_pipeline()
    three_steps.steps.insert(1, ("again", StandardScaler()))
    no_tickets = Pipeline(
        [
            (
                "f",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), ["tenure_months", "monthly_charges", "total_charges"]),
                        ("cat", OneHotEncoder(categories=cats), list(CATEGORICAL_FEATURES)),
                    ]
                ),
            ),
            ("lr", LogisticRegression(max_iter=1000)),
        ]
    )

    class Calibrated(LogisticRegression):  # type: ignore[misc]
        """Overrides predict_proba, so its weights alone do not give its answers."""

        def predict_proba(self, X: Any) -> Any:
            return super().predict_proba(X) ** 0.5

    subclassed = build_pipeline()
    subclassed.steps[-1] = ("model", Calibrated(max_iter=1000))
    return {
        "a RandomForest": (forest, "RandomForestClassifier"),
        "an extra step": (three_steps, "steps"),
        "MinMaxScaler": (with_features(MinMaxScaler(), OneHotEncoder(categories=cats)), "MinMaxScaler"),
        "drop=first": (with_features(StandardScaler(), OneHotEncoder(categories=cats, drop="first")), "drop"),
        "infrequent grouping": (
            with_features(
                StandardScaler(), OneHotEncoder(min_frequency=0.3, handle_unknown="infrequent_if_exist")
            ),
            "infrequent",
        ),
        "a feature left out": (no_tickets, "support_tickets"),
        "transformer weights": (
            with_features(StandardScaler(), OneHotEncoder(categories=cats), transformer_weights={"num": 2.0}),
            "transformer_weights",
        ),
        "a LogisticRegression subclass": (subclassed, "Calibrated"),
    }


@pytest.mark.parametrize("case", list(_unsupported_pipelines()))
def test_refuses_pipelines_it_does_not_understand(case: str, training: pd.DataFrame) -> None:
    pipeline, match = _unsupported_pipelines()[case]
    pipeline.fit(training[list(FEATURE_NAMES)], training["churned"])
    with pytest.raises(UnsupportedPipelineError, match=match):
        ChurnPredictor.from_pipeline(pipeline, version="t")


def test_refuses_a_bare_estimator_and_an_unfitted_pipeline(training: pd.DataFrame) -> None:
    lr = LogisticRegression().fit(training[["tenure_months", "support_tickets"]], training["churned"])
    with pytest.raises(UnsupportedPipelineError, match="Pipeline"):
        ChurnPredictor.from_pipeline(lr, version="t")
    with pytest.raises(UnsupportedPipelineError, match="not fitted"):
        ChurnPredictor.from_pipeline(build_pipeline(), version="t")


def test_load_refuses_an_unsupported_or_corrupt_model_file(
    tmp_path: Path, artifact: tuple[Path, ArtifactMetadata], training: pd.DataFrame
) -> None:
    out, _ = artifact
    target = tmp_path / "churn"
    target.mkdir()
    (target / "metadata.json").write_text((out / "metadata.json").read_text())
    forest = Pipeline([("model", RandomForestClassifier(n_estimators=2, random_state=0))])
    forest.fit(training[list(NUMERIC_FEATURES)], training["churned"])
    joblib.dump(forest, target / "model.joblib")
    with pytest.raises(UnsupportedPipelineError, match=r"model\.joblib"):
        ChurnPredictor.load(target)
    (target / "model.joblib").write_bytes(b"not a pickle")
    with pytest.raises(ArtifactError, match="could not be loaded"):
        ChurnPredictor.load(target)
    (target / "model.joblib").unlink()
    with pytest.raises(ArtifactError, match="not found"):
        ChurnPredictor.load(target)
