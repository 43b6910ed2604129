"""Metrics per slice of the test set: per category, or per quartile of a numeric column."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import numpy as np

from conveyor.errors import ConfigError, DataError
from conveyor.evaluate._common import label_array
from conveyor.evaluate.metrics import compute_metrics

__all__ = ["MISSING_SLICE", "slice_metrics"]

MISSING_SLICE = "(missing)"
_MAX_DISTINCT_AS_CATEGORY = 4


def slice_metrics(
    task: str,
    X_test: Any,
    y_test: Any,
    y_pred: Any,
    y_proba: Any,
    *,
    columns: Sequence[str],
    classes: Sequence[Any] | None,
    positive_class: Any,
    min_rows: int = 20,
    max_slices: int = 30,
) -> dict[str, list[dict[str, Any]]]:
    """Score the model separately on each value (or quartile) of each column.

    A numeric column with more than 4 distinct values is cut at its
    quartiles; other columns slice by value, largest slices first, at most
    ``max_slices`` of them. Missing values form their own ``"(missing)"``
    slice. Slices with fewer than ``min_rows`` rows are listed with empty
    metrics and a note, since a metric on a handful of rows misleads.

    Returns:
        ``{column: [{"value": str, "rows": int, "metrics": {...}, "notes": [...]}, …]}``

    Raises:
        ConfigError: a column is not in ``X_test`` (the message lists them).
    """
    import pandas as pd

    if not isinstance(X_test, pd.DataFrame):
        raise DataError("slice_metrics: X_test must be a pandas DataFrame with named columns")
    y = label_array(y_test)
    pred = label_array(y_pred)
    proba = None if y_proba is None else np.asarray(y_proba, dtype=float)
    if len(pred) != len(y) or len(X_test) != len(y):
        raise DataError(
            f"slice_metrics: X_test has {len(X_test)} rows, y_test {len(y)}, y_pred {len(pred)}"
        )
    out: dict[str, list[dict[str, Any]]] = {}
    for column in columns:
        if column not in X_test.columns:
            raise ConfigError(_missing_column(column, [str(c) for c in X_test.columns]))
        out[column] = []
        for value, mask in _groups(X_test[column], max_slices=max_slices):
            rows = int(mask.sum())
            entry: dict[str, Any] = {"value": value, "rows": rows, "metrics": {}, "notes": []}
            if rows < min_rows:
                entry["notes"].append(f"fewer than {min_rows} rows: metrics not computed")
            else:
                scores = compute_metrics(
                    task,
                    y[mask],
                    y_pred=pred[mask],
                    y_proba=None if proba is None else proba[mask],
                    classes=classes,
                    positive_class=positive_class,
                )
                entry["metrics"] = dict(scores)
                entry["notes"] = list(scores.notes)
            out[column].append(entry)
    return out


def _groups(series: Any, *, max_slices: int) -> list[tuple[str, np.ndarray]]:
    import pandas as pd

    missing = series.isna().to_numpy()
    present = series[~missing]
    groups: list[tuple[str, np.ndarray]] = []
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if numeric and present.nunique() > _MAX_DISTINCT_AS_CATEGORY:
        values = series.to_numpy(dtype=float, na_value=np.nan)
        edges = np.unique(np.quantile(values[~missing], [0.0, 0.25, 0.5, 0.75, 1.0]))
        # Bin k holds (edges[k], edges[k+1]]; the first bin also holds its lower edge.
        bins = np.clip(np.searchsorted(edges, values, side="left") - 1, 0, len(edges) - 2)
        for k in range(len(edges) - 1):
            mask = (bins == k) & ~missing
            opener = "[" if k == 0 else "("
            groups.append((f"{opener}{edges[k]:.4g}, {edges[k + 1]:.4g}]", mask))
    else:
        text = (
            series.astype(object).where(~missing, None).map(lambda v: None if v is None else str(v))
        )
        counts = text[~missing].value_counts()
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:max_slices]
        text_values = text.to_numpy()
        for value, _count in ordered:
            groups.append((value, (text_values == value) & ~missing))
    if missing.any():
        groups.append((MISSING_SLICE, missing))
    return groups


def _missing_column(column: str, available: list[str]) -> str:
    close = difflib.get_close_matches(column, available, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    shown = ", ".join(available[:30]) + (", …" if len(available) > 30 else "")
    return f"evaluate.slices: column {column!r} is not in the test data{hint}; columns: {shown}"
