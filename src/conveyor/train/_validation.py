"""Shared by fitting and tuning: folds, predictions and the validation metric set."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from conveyor.errors import DataError
from conveyor.train.scoring import get_metric, metrics_for_task, score_predictions
from conveyor.train.targets import show_value

__all__ = ["check_valid_classes", "fold_rows", "make_folds", "predict_outputs", "score_all"]


def make_folds(
    y: Any, *, task: str, k: int, seed: int, where: str
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Index pairs ``(train, test)`` of ``k`` shuffled folds, stratified for classification.

    Raises:
        DataError: a class has fewer rows than folds, or fewer rows than folds.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    y_arr = np.asarray(y, dtype=object if task != "regression" else None)
    if len(y_arr) < k:
        raise DataError(
            f"{where}: {k} folds need at least {k} rows; the training split has {len(y_arr)}"
        )
    if task == "regression":
        splitter: Any = KFold(n_splits=k, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(len(y_arr))))
    labels, counts = np.unique(y_arr.astype(str), return_counts=True)
    if counts.min() < k:
        rare = labels[np.argmin(counts)]
        raise DataError(
            f"{where}: {k} folds need at least {k} rows of every class; class "
            f"{show_value(rare)} has {int(counts.min())}",
            hint="lower the number of folds or collect more rows of that class",
        )
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y_arr)), y_arr.astype(str)))


def fold_rows(k: int, seed: int, index: int) -> tuple[str, int, int, int]:
    """The feature-cache key of fold ``index`` of :func:`make_folds` ``(k, seed)`` on one target."""
    return ("fold", k, seed, index)


def check_valid_classes(y_train: Any, y_valid: Any, *, where: str) -> None:
    """Raise if the validation split holds a class the training split lacks."""
    if y_valid is None:
        return
    known = set(np.unique(np.asarray(y_train, dtype=object)).tolist())
    unseen = [v for v in np.unique(np.asarray(y_valid, dtype=object)).tolist() if v not in known]
    if unseen:
        shown = ", ".join(show_value(v) for v in unseen[:10])
        raise DataError(
            f"{where}: the validation split has class(es) {shown} that the training split lacks",
            hint="use split.method: stratified, or drop classes that rare",
        )


def predict_outputs(
    pipeline: Any, X: Any, *, task: str
) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """``(predictions, probabilities or decision scores, has_proba)`` of a fitted pipeline."""
    y_pred = np.asarray(pipeline.predict(X))
    if task == "regression":
        return y_pred, None, False
    if hasattr(pipeline, "predict_proba"):
        return y_pred, np.asarray(pipeline.predict_proba(X)), True
    if task == "binary" and hasattr(pipeline, "decision_function"):
        return y_pred, np.asarray(pipeline.decision_function(X)), False
    return y_pred, None, False


def score_all(
    task: str,
    y_true: Any,
    y_pred: Any,
    y_proba: Any,
    *,
    has_proba: bool,
    classes: Sequence[Any] | None,
    primary_metric: str,
    pos_label: Any = None,
) -> dict[str, float]:
    """Every training metric for ``task`` that the outputs support, primary first.

    Raises:
        ModelError: the primary metric needs probabilities the model does not give.
    """
    names = [primary_metric] + [m for m in metrics_for_task(task) if m != primary_metric]
    scores: dict[str, float] = {}
    for name in names:
        needs = get_metric(name, task=task).needs
        usable = (
            needs == "pred"
            or (needs == "score" and y_proba is not None)
            or (needs == "proba" and has_proba)
        )
        if not usable and name != primary_metric:
            continue
        # An unusable primary metric gets no outputs, so score_predictions
        # raises the ModelError that says what it needs.
        scores[name] = score_predictions(
            task,
            y_true,
            y_pred,
            y_proba if usable else None,
            metric=name,
            classes=classes,
            pos_label=pos_label,
        )
    return scores
