"""Permutation importance of the raw input columns of a fitted pipeline."""

from __future__ import annotations

from typing import Any

import numpy as np

from conveyor.errors import ConfigError, DataError
from conveyor.evaluate._common import check_task, label_array
from conveyor.evaluate.cv import take_rows
from conveyor.evaluate.metrics import compute_metrics, greater_is_better, metric_names

__all__ = ["permutation_importance_table"]


def _probability_metric(task: str, metric: str) -> Any:
    """The training scorer for ``metric`` when it reads probabilities only, else None."""
    from conveyor.train.scoring import METRICS, score_predictions

    spec = METRICS.get(metric)
    if spec is None or spec.needs == "pred" or task not in spec.tasks:
        return None
    return score_predictions


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

    Returns:
        ``[{"feature", "importance_mean", "importance_std"}, …]``, most
        important first (ties by name). Importance is in units of ``metric``,
        positive when shuffling hurts, for losses too.

    Raises:
        ConfigError: ``metric`` is not a metric of ``task``.
        DataError: ``metric`` cannot be computed on this data.
    """
    from sklearn.inspection import permutation_importance

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

    def scorer(estimator: Any, X_part: Any, y_part: Any) -> float:
        if fast is not None:
            # A metric on probabilities alone (roc_auc, log_loss): compute just that one;
            # permutation importance calls this n_repeats x columns times.
            value = fast(
                task,
                y_part,
                None,
                estimator.predict_proba(X_part),
                metric=metric,
                classes=list(estimator.classes_),
                pos_label=positive_class,
            )
            if not np.isfinite(value):
                raise DataError(f"permutation importance: {metric} is undefined on this data")
            return sign * value
        if use_proba:
            scores = compute_metrics(
                task,
                y_part,
                y_proba=estimator.predict_proba(X_part),
                classes=list(estimator.classes_),
                positive_class=positive_class,
                threshold=threshold,
            )
        else:
            scores = compute_metrics(
                task,
                y_part,
                y_pred=estimator.predict(X_part),
                classes=getattr(estimator, "classes_", None),
                positive_class=positive_class,
            )
        if metric not in scores:
            raise DataError(
                f"permutation importance: {metric} cannot be computed on this data "
                f"({'; '.join(scores.notes) or 'undefined'})"
            )
        # permutation_importance expects greater-is-better scores.
        return sign * scores[metric]

    result = permutation_importance(
        pipeline, X, y, scoring=scorer, n_repeats=n_repeats, random_state=seed, n_jobs=1
    )
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
        for name, mean, std in zip(names, result.importances_mean, result.importances_std)
    ]
    table.sort(key=lambda row: (-row["importance_mean"], row["feature"]))
    return table
