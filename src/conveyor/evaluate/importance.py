"""Permutation importance of the raw input columns of a fitted pipeline."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from conveyor.errors import ConfigError, DataError
from conveyor.evaluate._common import check_task, label_array
from conveyor.evaluate.cv import take_rows
from conveyor.evaluate.metrics import compute_metrics, greater_is_better, metric_names

__all__ = ["binary_auc", "permutation_importance_table"]

# Rows scored per model call when permuted copies are stacked (bounds memory).
_STACK_ROWS = 200_000


def _permuted_scores(
    predict: Any, X: Any, y: Any, score: Any, *, n_repeats: int, seed: int
) -> np.ndarray:
    """``(columns, n_repeats)`` drops in score when each column is shuffled."""
    import pandas as pd

    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
    n = len(frame)
    baseline = score(predict(X), y)
    rng = np.random.RandomState(seed)
    per_call = max(1, _STACK_ROWS // max(n, 1))
    jobs = [(c, r) for c in range(frame.shape[1]) for r in range(n_repeats)]
    out = np.zeros((frame.shape[1], n_repeats))
    for start in range(0, len(jobs), per_call):
        chunk = jobs[start : start + per_call]
        copies = []
        for col, _ in chunk:
            copy = frame.copy(deep=False)
            copy.isetitem(col, frame.iloc[:, col].to_numpy()[rng.permutation(n)])
            copies.append(copy)
        stacked = pd.concat(copies, ignore_index=True)
        if not isinstance(X, pd.DataFrame):
            stacked = stacked.to_numpy()
        output = predict(stacked)
        for k, (col, rep) in enumerate(chunk):
            out[col, rep] = baseline - score(output[k * n : (k + 1) * n], y)
    return out


def binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of a binary score: the Mann-Whitney statistic, ties counted as one half.

    Equal to scikit-learn's ``roc_auc_score`` (up to rounding) without its input
    checks, which cost more than the statistic when importance scores a hundred
    shuffled copies. NaN when one class is absent.

    Example:
        >>> binary_auc(np.array([False, True, True]), np.array([0.1, 0.9, 0.1]))
        0.75
    """
    from scipy.stats import rankdata

    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(np.asarray(score, dtype=float))
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _probability_metric(task: str, metric: str) -> Any:
    """The training scorer for ``metric`` when it reads probabilities only, else None."""
    from conveyor.train.scoring import METRICS, score_predictions

    spec = METRICS.get(metric)
    if spec is None or spec.needs == "pred" or task not in spec.tasks:
        return None
    return score_predictions


def _auc_scorer(task: str, metric: str, classes: list[Any] | None, positive_class: Any) -> Any:
    """``(y, proba) -> ROC AUC`` for a binary task scored on ROC AUC, else None."""
    if task != "binary" or metric != "roc_auc" or not classes or len(classes) != 2:
        return None
    positive = classes[-1] if positive_class is None else positive_class
    if positive not in classes:
        return None
    column = classes.index(positive)

    def auc_of(y_part: Any, output: Any) -> float:
        proba = np.asarray(output, dtype=float)
        score = proba[:, column] if proba.ndim == 2 else (proba if column == 1 else -proba)
        return binary_auc(np.asarray(y_part) == positive, score)

    return auc_of


def permutation_importance_table(
    pipeline: Any,
    X: Any,
    y: Any,
    *,
    task: str,
    metric: str,
    seed: int,
    n_repeats: int = 5,
    max_rows: int = 2000,
    positive_class: Any = None,
    threshold: float | None = None,
) -> list[dict[str, Any]]:
    """How much ``metric`` worsens when each raw input column is shuffled.

    The whole pipeline is scored, so a column feeding several engineered
    features (one-hot levels, derived ratios) is measured once, as the user
    knows it. At most ``max_rows`` rows (a seeded sample) are used.

    Same definition as scikit-learn's ``permutation_importance`` (baseline
    score minus the score with one column shuffled, ``n_repeats`` seeded
    shuffles per column), but the shuffled copies are stacked and scored in a
    few large model calls instead of one call per column and repeat: a
    pipeline's fixed cost per call (column transformers, frame checks) is paid
    a handful of times rather than columns x repeats times.

    Returns:
        ``[{"feature", "importance_mean", "importance_std"}, …]``, most
        important first (ties by name). Importance is in units of ``metric``,
        positive when shuffling hurts, for losses too.

    Raises:
        ConfigError: ``metric`` is not a metric of ``task``.
        DataError: ``metric`` cannot be computed on this data.
    """
    check_task(task)
    if metric not in metric_names(task):
        raise ConfigError(
            f"evaluate.primary_metric: {metric!r} is not a {task} metric; "
            f"available: {', '.join(metric_names(task))}"
        )
    n = len(label_array(y))
    if n > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))
        X, y = take_rows(X, rows), take_rows(y, rows)
    sign = 1.0 if greater_is_better(metric) else -1.0
    use_proba = task != "regression" and hasattr(pipeline, "predict_proba")

    fast = _probability_metric(task, metric) if use_proba else None
    found = getattr(pipeline, "classes_", None)
    classes = list(found) if found is not None else None

    auc_of = _auc_scorer(task, metric, classes, positive_class) if use_proba else None

    def score(output: Any, y_part: Any) -> float:
        """Greater-is-better score of one block of model output against ``y_part``."""
        if auc_of is not None:
            value = auc_of(y_part, output)
            if not np.isfinite(value):
                raise DataError(f"permutation importance: {metric} is undefined on this data")
            return sign * value
        if fast is not None:
            # A metric on probabilities alone (roc_auc, log_loss): compute just that one.
            value = fast(task, y_part, None, output, metric=metric, classes=classes,
                         pos_label=positive_class)  # fmt: skip
            if not np.isfinite(value):
                raise DataError(f"permutation importance: {metric} is undefined on this data")
            return sign * value
        if use_proba:
            scores = compute_metrics(task, y_part, y_proba=output, classes=classes,
                                     positive_class=positive_class, threshold=threshold)  # fmt: skip
        else:
            scores = compute_metrics(task, y_part, y_pred=output, classes=classes,
                                     positive_class=positive_class)  # fmt: skip
        if metric not in scores:
            raise DataError(
                f"permutation importance: {metric} cannot be computed on this data "
                f"({'; '.join(scores.notes) or 'undefined'})"
            )
        return sign * scores[metric]

    predict = pipeline.predict_proba if use_proba else pipeline.predict
    importances = _permuted_scores(predict, X, y, score, n_repeats=n_repeats, seed=seed)
    names = (
        [str(c) for c in X.columns]
        if hasattr(X, "columns")
        else [f"x{i}" for i in range(np.asarray(X).shape[1])]
    )
    table = [
        {
            "feature": name,
            "importance_mean": float(mean),
            "importance_std": float(std),
        }
        for name, mean, std in zip(names, importances.mean(axis=1), importances.std(axis=1))
    ]
    table.sort(key=lambda row: (-row["importance_mean"], row["feature"]))
    return table
