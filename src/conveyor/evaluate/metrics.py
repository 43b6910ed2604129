"""Metrics by task, NaN-safe: an undefined metric is left out with a note, never NaN."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from conveyor.errors import DataError, ModelError
from conveyor.evaluate._classification import (
    classification_scores,
    predict_labels,
    prepare_proba,
)
from conveyor.evaluate._common import MetricScores, check_task, label_array

__all__ = [
    "CLASSIFICATION_METRICS",
    "REGRESSION_METRICS",
    "MetricScores",
    "compute_metrics",
    "default_primary_metric",
    "greater_is_better",
    "metric_names",
    "predict_labels",
    "prepare_proba",
]

CLASSIFICATION_METRICS: tuple[str, ...] = (
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "f1_macro",
    "f1_weighted",
    "precision_macro",
    "recall_macro",
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier",
)
REGRESSION_METRICS: tuple[str, ...] = ("rmse", "mae", "median_ae", "r2", "mape", "max_error")
_LOWER_IS_BETTER = frozenset({"log_loss", "brier", "rmse", "mae", "median_ae", "mape", "max_error"})


def metric_names(task: str) -> tuple[str, ...]:
    """All metrics :func:`compute_metrics` can report for ``task``."""
    check_task(task)
    return REGRESSION_METRICS if task == "regression" else CLASSIFICATION_METRICS


def greater_is_better(metric: str) -> bool:
    """True for scores (accuracy, roc_auc, r2, …), False for losses and errors."""
    return metric not in _LOWER_IS_BETTER


def default_primary_metric(task: str) -> str:
    """``roc_auc`` for binary, ``f1_macro`` for multiclass, ``rmse`` for regression."""
    check_task(task)
    return {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "rmse"}[task]


def compute_metrics(
    task: str,
    y_true: Any,
    *,
    y_pred: Any = None,
    y_proba: Any = None,
    classes: Sequence[Any] | None = None,
    positive_class: Any = None,
    threshold: float | None = None,
) -> MetricScores:
    """Score predictions against the truth.

    Classification needs ``y_pred`` or ``y_proba`` (columns in ``classes``
    order; for binary a 1-D array of positive-class probabilities is also
    accepted). Without ``y_pred``, binary labels are ``proba >= threshold``
    (default 0.5) and multiclass labels the most probable class. Binary
    ``precision``/``recall``/``f1`` are those of the positive class; for
    multiclass they are macro averages (the same as the ``*_macro`` keys).
    Regression needs ``y_pred``; ``mape`` skips rows where ``y_true == 0``.

    Returns:
        A :class:`MetricScores` dict; undefined metrics are absent and
        explained in its ``notes``.

    Example:
        >>> compute_metrics("regression", [1.0, 2.0], y_pred=[1.0, 4.0])["mae"]
        1.0
    """
    check_task(task)
    y = label_array(y_true)
    if len(y) == 0:
        raise DataError("compute_metrics: y_true is empty; there is nothing to score")
    with warnings.catch_warnings():
        # Undefined cases are handled explicitly below and reported as notes.
        warnings.simplefilter("ignore")
        if task == "regression":
            if y_pred is None:
                raise ModelError("compute_metrics: regression needs y_pred")
            scores = _regression(y, label_array(y_pred))
        else:
            scores = classification_scores(
                task, y, y_pred, y_proba, classes, positive_class, threshold
            )
    return _drop_non_finite(scores)


def _drop_non_finite(scores: MetricScores) -> MetricScores:
    # Overflow (say mape with a y_true of 1e-310) must not leak inf/NaN into JSON.
    for name in [k for k, v in scores.items() if not math.isfinite(v)]:
        del scores[name]
        scores.notes.append(f"{name}: not a finite number on this data; left out")
    return scores


def _regression(y_raw: np.ndarray, pred_raw: np.ndarray) -> MetricScores:
    try:
        y = y_raw.astype(float)
        pred = pred_raw.astype(float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"compute_metrics: regression targets must be numeric ({exc})") from exc
    if len(pred) != len(y):
        raise ModelError(f"y_pred: expected {len(y)} predictions, got {len(pred)}")
    bad_true, bad_pred = int((~np.isfinite(y)).sum()), int((~np.isfinite(pred)).sum())
    if bad_true or bad_pred:
        raise DataError(
            f"compute_metrics: {bad_true} target value(s) and {bad_pred} prediction(s) are NaN "
            "or infinite; drop or impute missing targets before evaluating"
        )
    err = pred - y
    scores = MetricScores()
    scores["rmse"] = float(np.sqrt(np.mean(err**2)))
    scores["mae"] = float(np.mean(np.abs(err)))
    scores["median_ae"] = float(np.median(np.abs(err)))
    scores["max_error"] = float(np.max(np.abs(err)))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if len(y) < 2 or ss_tot == 0.0:
        scores.notes.append("r2: not defined (y_true is constant or has fewer than 2 rows)")
    else:
        scores["r2"] = 1.0 - float(np.sum(err**2)) / ss_tot
    nonzero = y != 0
    zeros = int((~nonzero).sum())
    if zeros == len(y):
        scores.notes.append("mape: not defined (every y_true is 0)")
    else:
        scores["mape"] = float(np.mean(np.abs(err[nonzero]) / np.abs(y[nonzero])))
        if zeros:
            scores.notes.append(f"mape: ignored {zeros} of {len(y)} rows where y_true is 0")
    return scores
