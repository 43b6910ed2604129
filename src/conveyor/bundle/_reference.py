"""Reference statistics of the training data, so monitoring never needs the training set.

``reference.json`` layout (``format_version`` 1)::

    {"format_version": 1, "n_rows": 5634, "seed": 42,
     "features": {
        "tenure": {"kind": "numeric", "count": 5634, "missing_rate": 0.0,
                   "mean": ..., "std": ..., "min": ..., "max": ...,
                   "bin_edges": [21 quantile edges], "bin_counts": [20 counts],
                   "sample": [up to 2000 values]},
        "contract": {"kind": "categorical", "count": 5634, "missing_rate": 0.0,
                     "n_categories": 3, "counts": {"Month-to-month": 3100, ..., "__other__": 0}}},
     "prediction": {"kind": "classes", "counts": {"No": 4100, "Yes": 1534}}
                or {"kind": "values", "quantiles": [...], "mean": ..., "std": ..., "sample": [...]}}

Live data must be binned with :func:`bin_counts` and keyed with
:func:`category_key` so that both sides use the same rules.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from conveyor.errors import ModelError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "OTHER_CATEGORY",
    "REFERENCE_FORMAT_VERSION",
    "bin_counts",
    "build_reference",
    "category_key",
]

REFERENCE_FORMAT_VERSION = 1
OTHER_CATEGORY = "__other__"
N_BINS = 20
SAMPLE_SIZE = 2000
TOP_CATEGORIES = 100


def category_key(value: Any) -> str:
    """The text key a category value is counted under (same rule for training and live data)."""
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    return value if isinstance(value, str) else str(value)


def bin_counts(values: np.ndarray, edges: Sequence[float]) -> list[int]:
    """Count finite ``values`` into the bins defined by ``edges``.

    Bin ``i`` holds ``edges[i] <= x < edges[i + 1]``; the last bin also holds
    the maximum. Values below the first edge count in the first bin and values
    above the last edge in the last bin, so every live value lands somewhere.
    """
    edges_arr = np.asarray(edges, dtype=np.float64)
    n_bins = max(len(edges_arr) - 1, 1)
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(edges_arr) < 2:
        return [len(x)]
    idx = np.searchsorted(edges_arr[1:-1], x, side="right")
    return np.bincount(idx, minlength=n_bins).astype(int).tolist()


def build_reference(
    X_train: pd.DataFrame,
    predictions: Any,
    *,
    numeric: Iterable[str],
    categorical: Iterable[str],
    seed: int,
    task: Literal["binary", "multiclass", "regression"] | None = None,
) -> dict[str, Any]:
    """Per-feature statistics of the training frame and the training prediction mix.

    Args:
        X_train: the raw training frame.
        predictions: predicted labels (classifiers) or values (regressors) on ``X_train``.
        numeric: numeric columns to describe with quantile bins and a sample.
        categorical: categorical columns to describe with frequencies.
        seed: seed of the value sample (so the file is reproducible).
        task: decides how predictions are summarised; inferred when None
            (non-integer floats mean regression).

    Returns:
        A JSON-serialisable dict (see the module docstring).
    """
    numeric = list(numeric)
    categorical = list(categorical)
    missing = [c for c in [*numeric, *categorical] if c not in X_train.columns]
    if missing:
        raise ModelError(f"build_reference: columns {missing} are not in the training frame")
    rng = np.random.default_rng(seed)
    features: dict[str, Any] = {}
    for name in numeric:
        features[name] = _numeric_stats(X_train[name], rng)
    for name in categorical:
        features[name] = _categorical_stats(X_train[name])
    return {
        "format_version": REFERENCE_FORMAT_VERSION,
        "n_rows": len(X_train),
        "seed": seed,
        "features": features,
        "prediction": _prediction_stats(predictions, task, rng),
    }


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _numeric_stats(series: pd.Series, rng: np.random.Generator) -> dict[str, Any]:
    raw = series.to_numpy(dtype=np.float64, na_value=np.nan)
    n = len(raw)
    x = raw[np.isfinite(raw)]
    out: dict[str, Any] = {
        "kind": "numeric",
        "count": len(x),
        "missing_rate": (n - len(x)) / n if n else 0.0,
    }
    if len(x) == 0:
        out.update(mean=None, std=None, min=None, max=None, bin_edges=[], bin_counts=[], sample=[])
        return out
    edges = np.unique(np.quantile(x, np.linspace(0.0, 1.0, N_BINS + 1)))
    if len(edges) == 1:
        # A constant column still needs one bin with two edges.
        edges = np.array([edges[0], edges[0]])
    sample = x if len(x) <= SAMPLE_SIZE else rng.choice(x, SAMPLE_SIZE, replace=False)
    out.update(
        mean=_finite_or_none(float(x.mean())),
        std=_finite_or_none(float(x.std(ddof=1))) if len(x) > 1 else 0.0,
        min=float(x.min()),
        max=float(x.max()),
        bin_edges=edges.tolist(),
        bin_counts=bin_counts(x, edges),
        sample=np.sort(sample).tolist(),
    )
    return out


def _categorical_stats(series: pd.Series) -> dict[str, Any]:
    n = len(series)
    present = series.dropna()
    counter = Counter(category_key(v) for v in present.to_numpy())
    top = counter.most_common(TOP_CATEGORIES)
    counts = dict(top)
    counts[OTHER_CATEGORY] = len(present) - sum(counts.values())
    return {
        "kind": "categorical",
        "count": len(present),
        "missing_rate": (n - len(present)) / n if n else 0.0,
        "n_categories": len(counter),
        "counts": counts,
    }


def _prediction_stats(
    predictions: Any, task: str | None, rng: np.random.Generator
) -> dict[str, Any]:
    values = np.asarray(predictions)
    if values.ndim != 1:
        raise ModelError(
            f"build_reference: predictions must be one label or value per row, got shape {values.shape}"
        )
    if task is None:
        is_float = values.dtype.kind == "f"
        task = (
            "regression"
            if is_float and not np.all(np.mod(values[np.isfinite(values)], 1) == 0)
            else "classification"
        )
    if task == "regression":
        x = values.astype(np.float64)
        x = x[np.isfinite(x)]
        if len(x) == 0:
            return {
                "kind": "values",
                "count": 0,
                "quantiles": [],
                "mean": None,
                "std": None,
                "sample": [],
            }
        sample = x if len(x) <= SAMPLE_SIZE else rng.choice(x, SAMPLE_SIZE, replace=False)
        return {
            "kind": "values",
            "count": len(x),
            "quantiles": np.quantile(x, np.linspace(0.0, 1.0, N_BINS + 1)).tolist(),
            "mean": float(x.mean()),
            "std": float(x.std(ddof=1)) if len(x) > 1 else 0.0,
            "sample": np.sort(sample).tolist(),
        }
    counter = Counter(category_key(v) for v in values)
    return {"kind": "classes", "count": len(values), "counts": dict(sorted(counter.items()))}
