"""Conveyor's own scikit-learn transformers (module-level, so pickle and skops can load them).

They follow the scikit-learn contract: ``__init__`` only stores its keyword
arguments, ``fit`` validates and learns state in attributes ending in ``_``
and returns ``self``, ``transform`` is pure. They take raw pandas columns as
the server hands them over (object columns with ``None``, strings, numbers
and booleans mixed with missing values) and make them uniform.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from conveyor.bundle import category_text
from conveyor.errors import DataError

__all__ = ["CategoryStrings", "HashingEncoder", "Log1pClipped", "TextColumn", "ToFloat"]


def _names_in(X: Any) -> np.ndarray | None:
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    return np.asarray([str(c) for c in columns], dtype=object)


def _remember_input(est: BaseEstimator, X: Any) -> None:
    names = _names_in(X)
    if names is not None:
        est.feature_names_in_ = names
    elif hasattr(est, "feature_names_in_"):
        del est.feature_names_in_
    est.n_features_in_ = 1 if np.ndim(X) == 1 else np.shape(X)[1]


def _names_out(est: BaseEstimator, input_features: Any) -> np.ndarray:
    if input_features is not None:
        return np.asarray(input_features, dtype=object)
    names = getattr(est, "feature_names_in_", None)
    if names is not None:
        return np.asarray(names, dtype=object)
    return np.asarray([f"x{i}" for i in range(est.n_features_in_)], dtype=object)


def _columns(X: Any) -> list[tuple[str, pd.Series]]:
    """The columns of ``X`` as (name, Series) pairs, whatever container it is."""
    if isinstance(X, pd.DataFrame):
        return [(str(name), X.iloc[:, i]) for i, name in enumerate(X.columns)]
    if isinstance(X, pd.Series):
        return [(str(X.name), X)]
    array = np.asarray(X, dtype=object) if not isinstance(X, np.ndarray) else X
    if array.ndim == 1:
        return [("x0", pd.Series(array))]
    return [(f"x{i}", pd.Series(array[:, i])) for i in range(array.shape[1])]


def _category_text(value: Any) -> Any:
    # One text rule for training, the Python serving path and the ONNX feeds: 1.0 and 1 are
    # the same category (training data read as floats, a request as ints). Missing -> NaN.
    text = category_text(value)
    return np.nan if text == "" and not isinstance(value, str) else text


class ToFloat(TransformerMixin, BaseEstimator):
    """Cast columns to float64 (booleans become 0/1, ``None``/``NA`` become NaN)."""

    def fit(self, X: Any, y: Any = None) -> ToFloat:
        _remember_input(self, X)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        columns = _columns(X)
        out = np.empty((len(columns[0][1]) if columns else 0, len(columns)), dtype=np.float64)
        for j, (name, series) in enumerate(columns):
            try:
                out[:, j] = series.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError) as exc:
                bad = next((v for v in series if _not_number(v)), None)
                raise DataError(
                    f"column '{name}' must be numeric but holds {bad!r}",
                    hint="repair the type in 'clean' or declare the column as categorical",
                ) from exc
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return _names_out(self, input_features)

    def onnx_passthrough(self) -> str:
        """In an ONNX graph this is the identity on float32 feeds (see conveyor.bundle._onnx_io)."""
        return "float32"


def _not_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return value is not None
    return False


class CategoryStrings(TransformerMixin, BaseEstimator):
    """Turn category values into strings (missing -> NaN) so encoders see one type.

    Integral floats print as integers, so 1.0 (a column read with missing
    values) and 1 (the same value in a JSON request) are the same category.
    """

    def fit(self, X: Any, y: Any = None) -> CategoryStrings:
        _remember_input(self, X)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        columns = _columns(X)
        out = np.empty((len(columns[0][1]) if columns else 0, len(columns)), dtype=object)
        for j, (_, series) in enumerate(columns):
            # Convert each distinct value once: categories repeat, rows do not need a loop each.
            codes, uniques = pd.factorize(series.astype(object), use_na_sentinel=True)
            texts = np.array([_category_text(u) for u in uniques] + [np.nan], dtype=object)
            out[:, j] = texts[codes]
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return _names_out(self, input_features)

    def onnx_passthrough(self) -> str:
        """In an ONNX graph this is the identity on strings made by ``category_text``."""
        return "string"


class TextColumn(TransformerMixin, BaseEstimator):
    """One text column as a 1-D array of strings (missing -> ""), the input a vectorizer wants."""

    def fit(self, X: Any, y: Any = None) -> TextColumn:
        _remember_input(self, X)
        if self.n_features_in_ != 1:
            raise DataError(f"a text transformer takes one column, got {self.n_features_in_}")
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        (_, series), *rest = _columns(X)
        if rest:
            raise DataError(f"a text transformer takes one column, got {len(rest) + 1}")
        values = series.astype(object)
        return np.asarray(values.where(values.notna(), "").map(str), dtype=object)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return _names_out(self, input_features)


class Log1pClipped(TransformerMixin, BaseEstimator):
    """``log1p(max(x, 0))``: a log scale that tolerates zeros and stray negatives."""

    def fit(self, X: Any, y: Any = None) -> Log1pClipped:
        _remember_input(self, X)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        values = np.asarray(X, dtype=np.float64)
        return np.log1p(np.clip(values, 0.0, None))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return _names_out(self, input_features)


class HashingEncoder(TransformerMixin, BaseEstimator):
    """Hash each category column into ``n_features`` buckets (the hashing trick).

    Stateless apart from the input width, so unseen categories need no
    special handling; missing values hash to an all-zero block.

    Args:
        n_features: buckets per input column.
    """

    def __init__(self, n_features: int = 32) -> None:
        self.n_features = n_features

    def fit(self, X: Any, y: Any = None) -> HashingEncoder:
        if not isinstance(self.n_features, int | np.integer) or self.n_features < 2:
            raise ValueError(
                f"The 'n_features' parameter of HashingEncoder must be an int >= 2. Got {self.n_features!r} instead."
            )
        _remember_input(self, X)
        return self

    def transform(self, X: Any) -> np.ndarray:
        from sklearn.feature_extraction import FeatureHasher

        check_is_fitted(self, "n_features_in_")
        hasher = FeatureHasher(
            n_features=int(self.n_features), input_type="string", alternate_sign=False
        )
        blocks = []
        for _, series in _columns(X):
            tokens = [[] if pd.isna(v) else [str(v)] for v in series.astype(object)]
            blocks.append(hasher.transform(tokens).toarray())
        if not blocks:
            return np.empty((0, 0))
        return np.hstack(blocks)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        names = _names_out(self, input_features)
        return np.asarray(
            [f"{name}_hash{i}" for name in names for i in range(self.n_features)], dtype=object
        )
