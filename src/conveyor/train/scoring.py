"""The few metrics training needs to rank candidates and steer tuning.

The evaluate step owns the full metric set, plots and reports; this module is
the small shared core both use: a registry of metrics by name, which way each
one points, and one function that scores predictions.

Example:
    >>> score_predictions("regression", [1.0, 2.0], [1.0, 4.0], None, metric="mae", classes=None)
    1.0
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from conveyor.errors import ModelError

__all__ = [
    "METRICS",
    "Metric",
    "default_primary_metric",
    "greater_is_better",
    "metrics_for_task",
    "score_predictions",
]

_CLASSIFICATION = frozenset({"binary", "multiclass"})
_BINARY = frozenset({"binary"})
_REGRESSION = frozenset({"regression"})


@dataclass(frozen=True)
class Metric:
    """One metric: the tasks it applies to, its direction and what it reads.

    Attributes:
        name: registry name (``roc_auc``).
        tasks: tasks it is defined for.
        greater_is_better: True when a higher value is a better model.
        needs: ``"pred"`` (labels or values), ``"proba"`` (class probabilities)
            or ``"score"`` (probabilities or, failing that, decision scores).
    """

    name: str
    tasks: frozenset[str]
    greater_is_better: bool
    needs: Literal["pred", "proba", "score"] = "pred"


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", _CLASSIFICATION, True),
        Metric("balanced_accuracy", _CLASSIFICATION, True),
        Metric("f1", _BINARY, True),
        Metric("f1_macro", _CLASSIFICATION, True),
        Metric("precision", _BINARY, True),
        Metric("recall", _BINARY, True),
        Metric("roc_auc", _CLASSIFICATION, True, "score"),
        Metric("log_loss", _CLASSIFICATION, False, "proba"),
        Metric("rmse", _REGRESSION, False),
        Metric("mae", _REGRESSION, False),
        Metric("r2", _REGRESSION, True),
    )
}
"""Every metric training knows, by name."""

_DEFAULT_PRIMARY = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "rmse"}


def get_metric(
    metric: str, *, task: str | None = None, where: str = "evaluate.primary_metric"
) -> Metric:
    """Look a metric up by name, checking it applies to ``task``.

    Raises:
        ModelError: the name is unknown (with the closest known names) or the
            metric does not apply to the task.
    """
    found = METRICS.get(metric)
    if found is None:
        close = difflib.get_close_matches(metric, list(METRICS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ModelError(
            f"{where}: unknown metric '{metric}'{hint}; known: {', '.join(sorted(METRICS))}"
        )
    if task is not None and task not in found.tasks:
        usable = ", ".join(metrics_for_task(task))
        raise ModelError(
            f"{where}: metric '{metric}' does not apply to task '{task}'; use one of: {usable}"
        )
    return found


def greater_is_better(metric: str) -> bool:
    """True when a higher value of ``metric`` means a better model."""
    return get_metric(metric).greater_is_better


def default_primary_metric(task: str) -> str:
    """The metric candidates are ranked on unless the config names one.

    ``roc_auc`` for binary, ``f1_macro`` for multiclass, ``rmse`` for regression.
    """
    try:
        return _DEFAULT_PRIMARY[task]
    except KeyError:
        raise ModelError(
            f"task: unknown task '{task}'; expected binary, multiclass or regression"
        ) from None


def metrics_for_task(task: str) -> list[str]:
    """Names of every registered metric that applies to ``task``, in registry order."""
    return [name for name, m in METRICS.items() if task in m.tasks]


def score_predictions(
    task: str,
    y_true: Any,
    y_pred: Any,
    y_proba: Any,
    *,
    metric: str,
    classes: Sequence[Any] | None,
    pos_label: Any = None,
) -> float:
    """Score predictions with one metric.

    Args:
        task: ``binary``, ``multiclass`` or ``regression``.
        y_true: true labels or values.
        y_pred: predicted labels or values.
        y_proba: class probabilities, columns in ``classes`` order (2-D), or
            for binary tasks a 1-D score of the positive class (probability or
            decision function); None when the model gives none.
        metric: a name from :data:`METRICS`.
        classes: class labels in the column order of ``y_proba``
            (the estimator's ``classes_``); None for regression.
        pos_label: the positive class of a binary task; default ``classes[-1]``.

    Returns:
        The metric value; NaN when it is undefined on this data (e.g. ROC AUC
        with a single class present).

    Raises:
        ModelError: unknown metric, metric not for this task, or the metric
            needs probabilities the model does not give.
    """
    from sklearn import exceptions as skm_exceptions
    from sklearn import metrics as skm

    spec = get_metric(metric, task=task)
    y_true = np.asarray(y_true)
    if spec.needs != "pred" and y_proba is None:
        raise ModelError(
            f"metric '{metric}' needs predicted probabilities but the model gives none; "
            "pick a metric on labels (e.g. accuracy) or an estimator with predict_proba"
        )
    labels = list(classes) if classes is not None else None
    if task == "binary" and labels is not None:
        pos_label = labels[-1] if pos_label is None else pos_label
    try:
        with warnings.catch_warnings():
            # Undefined cases come back as NaN; the warning would only repeat it.
            warnings.simplefilter("ignore", skm_exceptions.UndefinedMetricWarning)
            return float(_compute(skm, spec.name, task, y_true, y_pred, y_proba, labels, pos_label))
    except ValueError:
        # Undefined on this sample (one class present, empty input): a NaN
        # ranks last instead of aborting a whole run.
        return math.nan


def _compute(
    skm: Any,
    name: str,
    task: str,
    y_true: np.ndarray,
    y_pred: Any,
    y_proba: Any,
    labels: list[Any] | None,
    pos_label: Any,
) -> float:
    if name == "accuracy":
        return skm.accuracy_score(y_true, y_pred)
    if name == "balanced_accuracy":
        return skm.balanced_accuracy_score(y_true, y_pred)
    if name == "f1":
        return skm.f1_score(y_true, y_pred, pos_label=pos_label, zero_division=0)
    if name == "precision":
        return skm.precision_score(y_true, y_pred, pos_label=pos_label, zero_division=0)
    if name == "recall":
        return skm.recall_score(y_true, y_pred, pos_label=pos_label, zero_division=0)
    if name == "f1_macro":
        return skm.f1_score(y_true, y_pred, average="macro", labels=labels, zero_division=0)
    if name == "rmse":
        return math.sqrt(skm.mean_squared_error(y_true, y_pred))
    if name == "mae":
        return skm.mean_absolute_error(y_true, y_pred)
    if name == "r2":
        return skm.r2_score(y_true, y_pred)
    proba = np.asarray(y_proba, dtype=float)
    if name == "roc_auc":
        if task == "binary":
            return skm.roc_auc_score(
                y_true == pos_label, _positive_column(proba, labels, pos_label)
            )
        return skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=labels)
    if name == "log_loss":
        if proba.ndim == 1:
            proba = np.column_stack([1.0 - proba, proba])
        # float32 probabilities (XGBoost) miss a row sum of 1 by rounding only.
        proba = proba / proba.sum(axis=1, keepdims=True)
        return skm.log_loss(y_true, proba, labels=labels)
    raise AssertionError(f"metric {name!r} is registered but not implemented")


def _positive_column(proba: np.ndarray, labels: list[Any] | None, pos_label: Any) -> np.ndarray:
    if proba.ndim == 1:
        # A 1-D score (sklearn convention) is for classes[1]; flip it when the
        # positive class is the other one.
        return -proba if labels is not None and pos_label == labels[0] else proba
    index = labels.index(pos_label) if labels is not None else proba.shape[1] - 1
    return proba[:, index]
