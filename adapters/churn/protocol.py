"""The churn `Predictor` Protocol: all the gateway knows about the churn model.

The gateway depends on this Protocol, never on `ChurnPredictor` or scikit-learn, so a test can serve a
hand-written predictor and a future model family needs no gateway change.

    def score(predictor: Predictor, row: Mapping[str, object]) -> str:
        p = predictor.predict_one(row)
        return "churn" if p >= predictor.threshold else "no_churn"
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["Predictor"]


@runtime_checkable
class Predictor(Protocol):
    """Scores customers that the caller has already validated against `adapters.churn.schema`.

    Rows map every name in `schema.FEATURE_NAMES` to a value of the right kind (int/float for numeric
    features, a known category string for categorical ones). Implementations need not re-check that.
    """

    @property
    def version(self) -> str:
        """The model version: a label value and a partition name in the prediction log."""
        ...

    @property
    def threshold(self) -> float:
        """Probabilities at or above this are served as `churn`."""
        ...

    def predict_one(self, features: Mapping[str, object]) -> float:
        """The churn probability of one customer."""
        ...

    def predict_many(self, rows: Sequence[Mapping[str, object]]) -> npt.NDArray[np.float64]:
        """The churn probabilities of several customers, in order (shape `(len(rows),)`)."""
        ...
