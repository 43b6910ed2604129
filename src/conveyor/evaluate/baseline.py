"""The no-skill baseline every model must beat: class priors or the training mean."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from conveyor.evaluate._common import check_task, label_array
from conveyor.evaluate.metrics import MetricScores, compute_metrics, greater_is_better

__all__ = ["BASELINE_TOLERANCE", "beats_baseline", "evaluate_baseline"]

BASELINE_TOLERANCE = 1e-9
"""A model must beat the baseline by more than this to count as better (float noise)."""


def evaluate_baseline(
    task: str,
    X_train: Any,
    y_train: Any,
    X_test: Any,
    y_test: Any,
    *,
    classes: Sequence[Any] | None,
    positive_class: Any,
    seed: int,
) -> MetricScores:
    """Metrics of ``DummyClassifier(strategy="prior")`` or ``DummyRegressor(strategy="mean")``.

    The dummy is fitted on the training split and scored on the test split
    with :func:`~conveyor.evaluate.metrics.compute_metrics`, so its numbers
    line up key for key with the model's. The prior classifier predicts the
    majority class and the training class frequencies as probabilities.
    """
    from sklearn.dummy import DummyClassifier, DummyRegressor

    check_task(task)
    n_train, n_test = len(label_array(y_train)), len(label_array(y_test))
    # Dummies ignore features; a one-column placeholder avoids copying wide frames.
    Xtr, Xte = np.zeros((n_train, 1)), np.zeros((n_test, 1))
    if task == "regression":
        reg = DummyRegressor(strategy="mean").fit(Xtr, label_array(y_train).astype(float))
        return compute_metrics(task, y_test, y_pred=reg.predict(Xte))
    clf = DummyClassifier(strategy="prior", random_state=seed).fit(Xtr, label_array(y_train))
    labels = list(classes) if classes is not None else list(clf.classes_)
    proba = np.zeros((n_test, len(labels)))
    raw = clf.predict_proba(Xte)
    lookup = {str(c): k for k, c in enumerate(labels)}
    for j, label in enumerate(clf.classes_):
        k = lookup.get(str(label))
        if k is not None:
            proba[:, k] = raw[:, j]
    return compute_metrics(
        task,
        y_test,
        y_pred=clf.predict(Xte),
        y_proba=proba,
        classes=labels,
        positive_class=positive_class,
    )


def beats_baseline(
    task: str,
    primary_metric: str,
    model_metrics: Mapping[str, float],
    baseline_metrics: Mapping[str, float],
) -> tuple[bool, str]:
    """Whether the model is strictly better than the baseline on ``primary_metric``.

    Returns:
        ``(better, reason)``, e.g. ``(True, "roc_auc 0.84 beats the baseline's
        0.5 by 0.34")``. A metric missing on either side counts as not better.
    """
    check_task(task)
    model = model_metrics.get(primary_metric)
    base = baseline_metrics.get(primary_metric)
    kind = "the mean" if task == "regression" else "the class priors"
    if model is None:
        return (
            False,
            f"{primary_metric} could not be computed for the model, so it cannot be compared",
        )
    if base is None:
        return False, (
            f"{primary_metric} could not be computed for the baseline (predicting {kind}), "
            "so the model cannot be shown to beat it"
        )
    higher = greater_is_better(primary_metric)
    margin = (model - base) if higher else (base - model)
    if margin > BASELINE_TOLERANCE:
        return True, (
            f"{primary_metric} {model:.4g} beats the baseline's {base:.4g} "
            f"(predicting {kind}) by {margin:.4g}"
        )
    direction = "higher" if higher else "lower"
    worse = "lower" if higher else "higher"
    return False, (
        f"{primary_metric} {model:.4g} is not better than the baseline's {base:.4g} "
        f"(predicting {kind}; {primary_metric} is better when {direction})"
        + (f"; it is {-margin:.4g} {worse}" if margin < 0 else "")
    )
