"""Tiny user transformers, imported by path in the tests (``sample_transformers:ClipValues``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class ClipValues(TransformerMixin, BaseEstimator):
    """Clip numeric columns to [lower, upper]; missing becomes ``lower``."""

    def __init__(self, lower: float = 0.0, upper: float = 1.0) -> None:
        self.lower = lower
        self.upper = upper

    def fit(self, X: Any, y: Any = None) -> ClipValues:
        self.n_features_in_ = np.shape(X)[1]
        self.feature_names_in_ = np.asarray(list(X.columns), dtype=object)
        return self

    def transform(self, X: Any) -> np.ndarray:
        values = np.asarray(X, dtype=np.float64)
        return np.clip(np.nan_to_num(values, nan=self.lower), self.lower, self.upper)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([f"{c}_clipped" for c in self.feature_names_in_], dtype=object)


class RowSum(TransformerMixin, BaseEstimator):
    """One column: the row sum. Has no get_feature_names_out on purpose."""

    def fit(self, X: Any, y: Any = None) -> RowSum:
        return self

    def transform(self, X: Any) -> np.ndarray:
        return np.nansum(np.asarray(X, dtype=np.float64), axis=1, keepdims=True)


class NoTransform(BaseEstimator):
    def fit(self, X: Any, y: Any = None) -> NoTransform:
        return self


class ChangesParams(TransformerMixin, BaseEstimator):
    def __init__(self, factor: float = 1.0) -> None:
        self.factor = factor * 2  # breaks the contract: clone() cannot rebuild it

    def fit(self, X: Any, y: Any = None) -> ChangesParams:
        return self

    def transform(self, X: Any) -> Any:
        return X


def not_a_class(X: Any) -> Any:
    return X
