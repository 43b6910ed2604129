"""Small shared helpers: class-label matching, JSON-safe values, curve thinning."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from conveyor.errors import ConfigError

CLASSIFICATION_TASKS = ("binary", "multiclass")
TASKS = ("binary", "multiclass", "regression")


class MetricScores(dict[str, float]):
    """``metric name -> value`` plus ``notes``: why a metric is missing or what it skipped."""

    def __init__(self, values: dict[str, float] | None = None, notes: list[str] | None = None):
        super().__init__(values or {})
        self.notes: list[str] = list(notes or [])


def check_task(task: str) -> None:
    if task not in TASKS:
        raise ConfigError(f"task: expected one of {', '.join(TASKS)}, got {task!r}")


def resolve_positive_class(classes: Sequence[Any], positive_class: Any) -> Any:
    """The element of ``classes`` meant by ``positive_class``.

    Config values arrive as YAML scalars (``"1"``, ``1``, ``true``) while the
    fitted classes may be numpy ints, bools or strings, so an exact match is
    tried first and then a match on the string form. ``None`` means the last
    class, which is what scikit-learn treats as positive.
    """
    labels = list(classes)
    if len(labels) == 0:
        raise ConfigError("positive_class: the model has no classes")
    if positive_class is None:
        return labels[-1]
    for label in labels:
        if _same_label(label, positive_class):
            return label
    for label in labels:
        if str(label) == str(positive_class):
            return label
    shown = ", ".join(repr(_py(c)) for c in labels)
    raise ConfigError(
        f"positive_class: {positive_class!r} is not one of the classes [{shown}]",
        hint="set 'positive_class' to one of the target's values",
    )


def _same_label(a: Any, b: Any) -> bool:
    # bool is an int subclass: keep True from matching 1 unless both are bools.
    if isinstance(a, bool | np.bool_) != isinstance(b, bool | np.bool_):
        return False
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def label_array(values: Any) -> np.ndarray:
    """A 1-D numpy array of labels from a Series, list or array."""
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    arr = np.asarray(values)
    return arr.reshape(-1) if arr.ndim != 1 else arr


def positive_mask(y: Any, positive: Any) -> np.ndarray:
    """Boolean mask of the rows whose label is ``positive`` (string-tolerant)."""
    arr = label_array(y)
    try:
        mask = np.asarray(arr == positive, dtype=bool)
    except (TypeError, ValueError):
        mask = np.zeros(len(arr), dtype=bool)
    if mask.shape != arr.shape or (not mask.any() and len(arr)):
        # Object columns may hold the label as a different type than the classes.
        mask = np.array([str(v) == str(positive) for v in arr], dtype=bool)
    return mask


def class_codes(values: Any, classes: Sequence[Any]) -> tuple[np.ndarray, list[Any]]:
    """Integer code of each value in ``classes``; values outside it get new codes.

    Returns the codes and the label list they index (``classes`` plus any
    unseen labels, appended in order of first appearance).
    """
    import pandas as pd

    arr = label_array(values)
    labels = list(classes)
    codes = (
        pd.Index(labels, dtype=object).get_indexer(arr.astype(object))
        if labels
        else (np.full(len(arr), -1))
    )
    if (codes < 0).any():
        # YAML/CSV may give "1" where the model has 1: match on text, then append the rest.
        by_text = {label_text(c): k for k, c in enumerate(labels)}
        for i in np.flatnonzero(codes < 0):
            key = label_text(arr[i])
            if key not in by_text:
                by_text[key] = len(labels)
                labels.append(arr[i])
            codes[i] = by_text[key]
    return codes.astype(np.int64), labels


def label_text(value: Any) -> str:
    return str(_py(value))


def _py(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def to_jsonable(value: Any) -> Any:
    """Plain JSON types from numpy, pandas, dataclasses and tuples; NaN and inf become ``None``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        to_dict = getattr(value, "to_dict", None)
        if callable(to_dict):
            return to_jsonable(to_dict())
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(_py(k)): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [to_jsonable(v) for v in items]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def thin_indices(n: int, max_points: int) -> np.ndarray:
    """At most ``max_points`` evenly spread indices of ``range(n)``, keeping both ends."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(int))


def float_list(values: Any) -> list[float | None]:
    return [finite_or_none(v) for v in np.asarray(values, dtype=float).tolist()]


_SECRET_KEY = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|credential|private[_-]?key", re.I
)
REDACTED = "***"


def redact_run_info(info: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``info`` with values under secret-looking keys masked (reports are shared)."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        if _SECRET_KEY.search(str(key)):
            out[str(key)] = REDACTED
        elif isinstance(value, Mapping):
            out[str(key)] = redact_run_info(value)
        else:
            out[str(key)] = value
    return out
