"""Reference statistics of the training data, so monitoring never needs the training set.

``reference.json`` layout (``format_version`` 2)::

    {"format_version": 2, "n_rows": 5634, "seed": 42,
     "features": {
        "tenure": {"kind": "numeric", "count": 5634, "missing": 0, "missing_rate": 0.0,
                   "mean": ..., "std": ..., "min": ..., "max": ...,
                   "bin_edges": [<= 21 edges], "bin_counts": [<= 20 counts],
                   "fine_edges": [<= ~200 strictly increasing edges],
                   "fine_counts": [one count per fine cell],
                   "sample": [up to 2000 values]},
        "contract": {"kind": "categorical", "count": 5634, "missing": 0, "missing_rate": 0.0,
                     "n_categories": 3, "counts": {"Month-to-month": 3100, ..., "__other__": 0}}},
     "prediction": {"kind": "classes", "count": 5634, "counts": {"No": 4100, "Yes": 1534}}
                or {"kind": "values", <the numeric fields above>}}

Numeric bins:

* ``bin_edges`` / ``bin_counts`` are the coarse histogram (plots, PSI): quantile
  edges, or one bin per value when a column has at most 20 distinct values.
  Count live data into them with :func:`bin_counts`.
* ``fine_edges`` / ``fine_counts`` describe the CDF for the Wasserstein distance:
  ~100 quantile cells, cell ``i`` holding ``fine_edges[i] <= x < fine_edges[i + 1]``.
  A value that carries at least 1% of the data (or every value of a column with
  at most 100 distinct values) gets a cell of its own, ``[v, nextafter(v))``, so
  discrete columns are described exactly. Every training value lies inside the
  edges (the last edge is just above the maximum). The coarse edges are a subset
  of the fine edges, so coarse counts follow from fine counts.

Missing values (null, NaN, +-inf for numbers) are counted in ``missing``.
Categories are keyed with :func:`category_key`; the 100 most frequent are kept
and the rest counted under ``__other__``.

Format 1 (no ``missing``, ``fine_edges`` or ``fine_counts``; prediction values as
21 quantiles and a sample) is still read by the drift statistics, which derive
the fine cells from the sample.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from conveyor.errors import ModelError

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

__all__ = [
    "OTHER_CATEGORY",
    "READABLE_REFERENCE_VERSIONS",
    "REFERENCE_FORMAT_VERSION",
    "bin_counts",
    "build_reference",
    "categorical_stats",
    "category_counts",
    "category_key",
    "numeric_stats",
]

REFERENCE_FORMAT_VERSION = 2
READABLE_REFERENCE_VERSIONS = (1, 2)
OTHER_CATEGORY = "__other__"
N_BINS = 20
FINE_BINS = 100
SAMPLE_SIZE = 2000
EDGE_SAMPLE = 200_000  # quantile edges of larger columns come from a seeded sample this big
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

    Example:
        >>> bin_counts(np.array([-5.0, 0.5, 1.0, 2.0, 7.0]), [0.0, 1.0, 2.0])
        [2, 3]
    """
    edges_arr = np.asarray(edges, dtype=np.float64)
    n_bins = max(len(edges_arr) - 1, 1)
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(edges_arr) < 2:
        return [len(x)]
    idx = np.searchsorted(edges_arr[1:-1], x, side="right")
    return np.bincount(idx, minlength=n_bins).astype(int).tolist()


def coarse_from_fine(
    fine_edges: np.ndarray, fine_counts: np.ndarray, coarse_edges: np.ndarray
) -> np.ndarray:
    """Coarse bin counts (the :func:`bin_counts` rule) from counts of fine cells.

    ``fine_counts`` may carry two extra entries, the values below the first and
    at or above the last fine edge; they go to the first and last coarse bin.
    """
    n_coarse = max(len(coarse_edges) - 1, 1)
    cells = len(fine_edges) - 1
    counts = np.asarray(fine_counts, dtype=np.float64)
    below = above = 0.0
    if len(counts) == cells + 2:
        below, above, counts = counts[0], counts[-1], counts[1:-1]
    target = np.searchsorted(np.asarray(coarse_edges)[1:-1], fine_edges[:-1], side="right")
    out = np.bincount(target, weights=counts, minlength=n_coarse)[:n_coarse]
    out[0] += below
    out[-1] += above
    return np.rint(out).astype(np.int64)


def numeric_stats(values: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    """Statistics of one numeric column (NaN and +-inf count as missing).

    Example:
        >>> stats = numeric_stats(np.array([1.0, 2.0, np.nan]), np.random.default_rng(0))
        >>> stats["count"], stats["missing"], stats["bin_counts"]
        (2, 1, [1, 1])
    """
    raw = np.asarray(values, dtype=np.float64)
    n = len(raw)
    finite = np.isfinite(raw)
    x = raw if finite.all() else raw[finite]
    out: dict[str, Any] = {
        "kind": "numeric",
        "count": len(x),
        "missing": n - len(x),
        "missing_rate": (n - len(x)) / n if n else 0.0,
    }
    if len(x) == 0:
        out.update(
            mean=None, std=None, min=None, max=None, bin_edges=[], bin_counts=[],
            fine_edges=[], fine_counts=[], sample=[],
        )  # fmt: skip
        return out
    lo, hi = float(x.min()), float(x.max())
    exact = len(x) <= EDGE_SAMPLE
    ordered = np.sort(x) if exact else np.sort(x[rng.integers(0, len(x), EDGE_SAMPLE)])
    fine, coarse = _edges(ordered, lo, hi)
    if exact:
        fine_counts = np.diff(np.searchsorted(ordered, fine, side="left"))
    else:
        cell = np.searchsorted(fine, x, side="right") - 1
        fine_counts = np.bincount(cell, minlength=len(fine) - 1)
    sample = x if len(x) <= SAMPLE_SIZE else x[rng.choice(len(x), SAMPLE_SIZE, replace=False)]
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if len(x) > 1 else 0.0
    out.update(
        mean=mean if np.isfinite(mean) else None,
        std=std if np.isfinite(std) else None,
        min=lo,
        max=hi,
        bin_edges=coarse.tolist(),
        bin_counts=coarse_from_fine(fine, fine_counts, coarse).tolist(),
        fine_edges=fine.tolist(),
        fine_counts=fine_counts.astype(np.int64).tolist(),
        sample=np.sort(sample).tolist(),
    )
    return out


def _edges(ordered: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Fine and coarse edges from sorted values (possibly a sample) and the true min/max."""
    n = len(ordered)
    # inverted-CDF quantiles (always data values) at levels i / FINE_BINS, in integers so
    # that the coarse levels i / N_BINS pick the very same values
    quantiles = ordered[
        np.maximum((np.arange(FINE_BINS + 1) * n + FINE_BINS - 1) // FINE_BINS - 1, 0)
    ]
    # tails are where linear interpolation inside a cell is worst: halve the level down to 1/n
    tail_levels = 0.5 ** np.arange(1, 40) / FINE_BINS
    tail_levels = tail_levels[tail_levels * n >= 1.0]
    tail_index = np.ceil(np.concatenate([tail_levels, 1.0 - tail_levels]) * n).astype(np.int64) - 1
    tails = ordered[np.clip(tail_index, 0, n - 1)]
    distinct = ordered[np.r_[True, ordered[1:] != ordered[:-1]]]
    if len(distinct) <= FINE_BINS:
        knots, masses = distinct, distinct
    else:
        knots = np.concatenate([quantiles, tails])
        masses = quantiles[1:][quantiles[1:] == quantiles[:-1]]
    above_max = np.nextafter(hi, np.inf)
    fine = np.unique(np.concatenate([knots, np.nextafter(masses, np.inf), [lo, hi, above_max]]))
    fine = fine[(fine >= lo) & (fine <= above_max)]
    if len(distinct) <= N_BINS:
        values = np.unique(np.concatenate([distinct, [lo, hi]]))
        coarse = np.append(values, values[-1])
    else:
        coarse = np.unique(quantiles[:: FINE_BINS // N_BINS])
        coarse[0], coarse[-1] = lo, hi
    return fine, coarse


def category_counts(series: pl.Series) -> tuple[pl.Series, np.ndarray, int]:
    """Keys (:func:`category_key`), counts and missing count of a Polars column.

    Strings, integers, booleans and categoricals are keyed without a Python loop;
    other types (floats, dates) convert their distinct values one by one.

    Example:
        >>> import polars as pl
        >>> keys, counts, missing = category_counts(pl.Series(["a", "b", None, "a"]))
        >>> keys.to_list(), counts.tolist(), missing
        (['a', 'b'], [2, 1], 1)
    """
    import polars as pl

    if series.dtype.is_float():
        series = series.fill_nan(None)
    missing = series.null_count()
    counted = (
        series.alias("value").to_frame().group_by("value").agg(pl.len().alias("n")).drop_nulls()
    )
    uniques = counted["value"]
    dtype = uniques.dtype
    if dtype == pl.String:
        keys = uniques
    elif dtype.is_integer() or isinstance(dtype, pl.Categorical | pl.Enum):
        keys = uniques.cast(pl.String)
    elif dtype == pl.Boolean:
        keys = pl.select(
            pl.when(pl.lit(uniques)).then(pl.lit("True")).otherwise(pl.lit("False"))
        ).to_series()
    else:
        keys = pl.Series([category_key(v) for v in uniques.to_list()], dtype=pl.String)
    merged = (
        pl.DataFrame({"key": keys, "n": counted["n"].cast(pl.Int64)})
        .group_by("key")
        .agg(pl.col("n").sum())
        .sort(["n", "key"], descending=[True, False])
    )
    return merged["key"], merged["n"].to_numpy(), missing


def categorical_stats(
    keys: Sequence[str] | pl.Series, counts: np.ndarray, missing: int
) -> dict[str, Any]:
    """Statistics of one categorical column from its keys and counts (most frequent first).

    Example:
        >>> categorical_stats(["a", "b"], np.array([3, 1]), 1)["counts"]
        {'a': 3, 'b': 1, '__other__': 0}
    """
    counts = np.asarray(counts, dtype=np.int64)
    present = int(counts.sum())
    kept = list(keys[:TOP_CATEGORIES])
    top = {str(k): int(c) for k, c in zip(kept, counts[:TOP_CATEGORIES], strict=True)}
    top[OTHER_CATEGORY] = present - sum(top.values())
    total = present + missing
    return {
        "kind": "categorical",
        "count": present,
        "missing": int(missing),
        "missing_rate": missing / total if total else 0.0,
        "n_categories": len(keys),
        "counts": top,
    }


def _pandas_category_counts(series: pd.Series) -> tuple[pl.Series, np.ndarray, int]:
    import polars as pl

    present = series.dropna()
    counted = present.value_counts(dropna=True, sort=False)
    keys = [category_key(v) for v in counted.index.to_numpy()]
    merged = (
        pl.DataFrame({"key": keys, "n": counted.to_numpy().astype(np.int64)})
        .group_by("key")
        .agg(pl.col("n").sum())
        .sort(["n", "key"], descending=[True, False])
    )
    return merged["key"], merged["n"].to_numpy(), len(series) - len(present)


def parallel_workers(cells: int, tasks: int) -> int:
    """Threads worth using for ``tasks`` column jobs over ``cells`` values in all."""
    if cells < 500_000 or tasks < 2:
        return 1
    return max(1, min(tasks, os.cpu_count() or 1, 8))


def _column_values(frame: Any, name: str, *, is_polars: bool) -> np.ndarray:
    if is_polars:
        import polars as pl

        return frame[name].cast(pl.Float64).to_numpy()  # nulls become NaN
    return frame[name].to_numpy(dtype=np.float64, na_value=np.nan)


def build_reference(
    X_train: pd.DataFrame | pl.DataFrame,
    predictions: Any,
    *,
    numeric: Iterable[str],
    categorical: Iterable[str],
    seed: int,
    task: Literal["binary", "multiclass", "regression"] | None = None,
) -> dict[str, Any]:
    """Per-feature statistics of the training frame and the training prediction mix.

    Args:
        X_train: the raw training frame (pandas or Polars).
        predictions: predicted labels (classifiers) or values (regressors) on
            ``X_train``; None for a reference of the data alone.
        numeric: numeric columns to describe with quantile bins and a sample.
        categorical: categorical columns to describe with frequencies.
        seed: seed of the value samples (so the file is reproducible).
        task: decides how predictions are summarised; inferred when None
            (non-integer floats mean regression).

    Returns:
        A JSON-serialisable dict (see the module docstring).

    Example:
        >>> ref = build_reference(frame, model.predict(frame), numeric=["tenure"],
        ...                       categorical=["contract"], seed=42)  # doctest: +SKIP
        >>> ref["features"]["tenure"]["bin_counts"]  # doctest: +SKIP
        [290, 281, ...]
    """
    numeric = list(numeric)
    categorical = list(categorical)
    missing = [c for c in [*numeric, *categorical] if c not in X_train.columns]
    if missing:
        raise ModelError(f"build_reference: columns {missing} are not in the training frame")
    is_polars = type(X_train).__module__.startswith("polars")

    def describe(job: tuple[str, str]) -> dict[str, Any]:
        name, kind = job
        if kind == "numeric":
            values = _column_values(X_train, name, is_polars=is_polars)
            return numeric_stats(values, np.random.default_rng([seed, zlib.crc32(name.encode())]))
        column = X_train[name]
        counted = category_counts(column) if is_polars else _pandas_category_counts(column)
        return categorical_stats(*counted)

    jobs = [(name, "numeric") for name in numeric] + [(name, "categorical") for name in categorical]
    workers = parallel_workers(len(X_train) * len(jobs), len(jobs))
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:  # numpy and Polars release the GIL
            described = list(pool.map(describe, jobs))
    else:
        described = [describe(job) for job in jobs]
    features = {name: stats for (name, _), stats in zip(jobs, described, strict=True)}
    rng = np.random.default_rng(seed)
    return {
        "format_version": REFERENCE_FORMAT_VERSION,
        "n_rows": len(X_train),
        "seed": seed,
        "features": features,
        "prediction": None if predictions is None else _prediction_stats(predictions, task, rng),
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
        return {**numeric_stats(values.astype(np.float64), rng), "kind": "values"}
    try:
        labels, per_label = np.unique(values, return_counts=True)
    except TypeError:  # labels of mixed types cannot be sorted: count them by key
        labels, per_label = np.array([category_key(v) for v in values]), None
        labels, per_label = np.unique(labels, return_counts=True)
    merged: dict[str, int] = {}
    for label, count in zip(labels.tolist(), per_label.tolist(), strict=True):
        key = category_key(label)
        merged[key] = merged.get(key, 0) + int(count)
    return {"kind": "classes", "count": len(values), "counts": dict(sorted(merged.items()))}
