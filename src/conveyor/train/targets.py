"""Checks that the target column can be learned for the configured task.

Run on the training split before any fitting, so a wrong ``task`` or an
unusable target is a :class:`~conveyor.errors.DataError` that says what is
wrong and what to change, not an estimator's stack trace.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from conveyor.errors import DataError

__all__ = ["check_target", "show_value"]

_MAX_LISTED = 10
_MANY_FLOAT_CLASSES = 20


def check_target(y: Any, *, task: str, target_name: str, split: str = "training") -> list[str]:
    """Raise if ``y`` cannot be learned for ``task``; return warnings worth showing.

    Args:
        y: the target values of one split (pandas or polars Series, array, list).
        task: ``binary``, ``multiclass`` or ``regression``.
        target_name: the target column, for messages.
        split: name of the split, for messages.

    Returns:
        Human-readable warnings (e.g. a multiclass task with only two classes).

    Raises:
        DataError: the target is all or partly missing, has a single value, is
            text for a regression task, has more than two classes for a
            binary task, or looks continuous for a classification task.

    Example:
        >>> check_target(["No", "Yes", "No"], task="binary", target_name="churn")
        []
    """
    series = _as_series(y)
    where = f"target '{target_name}'"
    n = len(series)
    missing = series.isna()
    if n == 0 or bool(missing.all()):
        raise DataError(
            f"{where} has no values in the {split} split ({n} rows, all missing)",
            hint="check the target column name and the cleaning steps",
        )
    if bool(missing.any()):
        rows = np.flatnonzero(missing.to_numpy())[:5].tolist()
        raise DataError(
            f"{where} is missing in {int(missing.sum())} of {n} rows of the {split} split "
            f"(rows {', '.join(map(str, rows))}{', …' if missing.sum() > 5 else ''})",
            hint=f"drop them with clean: [{{op: drop_missing, columns: [{target_name}]}}]",
        )
    if task == "regression":
        _check_regression(series, where=where, split=split)
        return []
    return _check_classification(series, task=task, where=where, split=split)


def show_value(value: Any) -> str:
    """A label as it reads in a message: ``'No'`` for text, ``1`` for numbers."""
    if isinstance(value, np.generic):
        value = value.item()
    return f"'{value}'" if isinstance(value, str) else str(value)


def _as_series(y: Any) -> pd.Series:
    if isinstance(y, pd.Series):
        return y.reset_index(drop=True)
    if hasattr(y, "to_pandas"):  # polars / pyarrow
        return y.to_pandas().reset_index(drop=True)
    return pd.Series(np.asarray(y) if not isinstance(y, list) else y)


def _check_regression(series: pd.Series, *, where: str, split: str) -> None:
    if pd.api.types.is_bool_dtype(series):
        raise DataError(
            f"{where} must be numeric for task 'regression'; got booleans (True/False)",
            hint="a yes/no target is a classification: use task: binary",
        )
    if not pd.api.types.is_numeric_dtype(series):
        parsed = pd.to_numeric(series, errors="coerce")
        bad = series[parsed.isna()].unique()[:5]
        if len(bad):
            examples = ", ".join(show_value(v) for v in bad)
            raise DataError(
                f"{where} must be numeric for task 'regression'; got text values such as {examples}",
                hint="if the target is a category, use task: binary or multiclass",
            )
        raise DataError(
            f"{where} holds numbers stored as {series.dtype} for task 'regression'",
            hint="convert it with clean: [{op: repair_types}]",
        )
    values = series.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        count = int((~np.isfinite(values)).sum())
        raise DataError(f"{where} has {count} infinite values in the {split} split")
    if np.unique(values).size == 1:
        raise DataError(
            f"{where} has a single value {show_value(series.iloc[0])} in the {split} split; "
            "nothing to learn"
        )


def _check_classification(series: pd.Series, *, task: str, where: str, split: str) -> list[str]:
    classes = _sorted_unique(series)
    if len(classes) == 1:
        raise DataError(
            f"{where} has a single value {show_value(classes[0])} in the {split} split; "
            "nothing to learn"
        )
    if pd.api.types.is_float_dtype(series):
        values = series.to_numpy(dtype=float)
        if len(classes) > _MANY_FLOAT_CLASSES and not np.all(values == np.round(values)):
            raise DataError(
                f"{where} has {len(classes)} distinct non-integer values; task '{task}' "
                "needs classes",
                hint="did you mean task: regression?",
            )
    listed = ", ".join(show_value(c) for c in classes[:_MAX_LISTED])
    if len(classes) > _MAX_LISTED:
        listed += f", … ({len(classes)} in all)"
    if task == "binary" and len(classes) > 2:
        raise DataError(
            f"{where} has {len(classes)} classes ({listed}) in the {split} split but task is "
            "'binary'",
            hint="use task: multiclass, or map the labels to two classes when cleaning",
        )
    if task == "multiclass" and len(classes) == 2:
        return [
            f"{where} has only 2 classes ({listed}); task 'binary' would give ROC AUC and "
            "threshold tuning"
        ]
    return []


def _sorted_unique(series: pd.Series) -> list[Any]:
    unique = list(series.unique())
    try:
        return sorted(unique)
    except TypeError:  # mixed types: order by text so messages are stable
        return sorted(unique, key=str)
