"""Curve and table data behind the report's plots (JSON-ready lists, thinned)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from conveyor.errors import ModelError
from conveyor.evaluate._common import (
    class_codes,
    float_list,
    label_array,
    label_text,
    positive_mask,
    resolve_positive_class,
    thin_indices,
)
from conveyor.evaluate.metrics import predict_labels, prepare_proba

__all__ = ["classification_details", "regression_details"]

_CALIBRATION_BINS = 10


def classification_details(
    y_true: Any,
    *,
    y_pred: Any = None,
    y_proba: Any = None,
    classes: Sequence[Any],
    positive_class: Any = None,
    threshold: float | None = None,
    max_points: int = 200,
) -> dict[str, Any]:
    """Confusion matrix, ROC, precision-recall and calibration curves.

    Binary problems get one curve (the positive class); multiclass problems
    one one-vs-rest curve per class present in ``y_true``. Each curve holds at
    most ``max_points`` points. Without probabilities only the confusion
    matrix is returned.

    Returns:
        ``{"confusion_matrix": {"labels", "matrix"}, "roc": [...], "pr": [...],
        "calibration": [...]}``; every curve is a dict with ``label`` and its
        coordinate lists (``fpr``/``tpr``, ``recall``/``precision``,
        ``prob_pred``/``prob_true``/``counts``).
    """
    y = label_array(y_true)
    classes = list(classes)
    proba = None
    if y_proba is not None:
        proba = prepare_proba(y_proba, classes, n_rows=len(y), positive_class=positive_class)
    if y_pred is None:
        if proba is None:
            raise ModelError("classification_details: give y_pred or y_proba")
        pred = predict_labels(proba, classes, positive_class=positive_class, threshold=threshold)
    else:
        pred = label_array(y_pred)

    _, labels = class_codes(y, classes)
    pred_idx, labels = class_codes(pred, labels)
    y_idx, _ = class_codes(y, labels)
    k = len(labels)
    matrix = np.bincount(y_idx * k + pred_idx, minlength=k * k).reshape(k, k)
    out: dict[str, Any] = {
        "confusion_matrix": {
            "labels": [label_text(c) for c in labels],
            "matrix": matrix.astype(int).tolist(),
        },
        "roc": [],
        "pr": [],
        "calibration": [],
    }
    if proba is None:
        return out
    if len(classes) == 2:
        pos = resolve_positive_class(classes, positive_class)
        targets = [(pos, classes.index(pos))]
    else:
        targets = [(c, k) for k, c in enumerate(classes)]
    for label, k in targets:
        actual = positive_mask(y, label)
        if not 0 < actual.sum() < len(actual):
            continue
        out["roc"].append(_roc(actual, proba[:, k], label, max_points))
        out["pr"].append(_pr(actual, proba[:, k], label, max_points))
        out["calibration"].append(_calibration(actual, proba[:, k], label))
    return out


def _roc(actual: np.ndarray, score: np.ndarray, label: Any, max_points: int) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, thr = roc_curve(actual, score)
    keep = thin_indices(len(fpr), max_points)
    return {
        "label": label_text(label),
        "fpr": float_list(fpr[keep]),
        "tpr": float_list(tpr[keep]),
        "thresholds": float_list(thr[keep]),
        "auc": float(roc_auc_score(actual, score)),
    }


def _pr(actual: np.ndarray, score: np.ndarray, label: Any, max_points: int) -> dict[str, Any]:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    precision, recall, thr = precision_recall_curve(actual, score)
    # The last point (recall 0, precision 1) has no threshold; keep the arrays aligned.
    thr = np.append(thr, np.nan)
    keep = thin_indices(len(precision), max_points)
    return {
        "label": label_text(label),
        "recall": float_list(recall[keep]),
        "precision": float_list(precision[keep]),
        "thresholds": float_list(thr[keep]),
        "average_precision": float(average_precision_score(actual, score)),
        "prevalence": float(actual.mean()),
    }


def _calibration(actual: np.ndarray, score: np.ndarray, label: Any) -> dict[str, Any]:
    edges = np.linspace(0.0, 1.0, _CALIBRATION_BINS + 1)
    bins = np.clip(np.digitize(score, edges[1:-1], right=False), 0, _CALIBRATION_BINS - 1)
    prob_pred, prob_true, counts = [], [], []
    for b in range(_CALIBRATION_BINS):
        in_bin = bins == b
        n = int(in_bin.sum())
        if n:
            prob_pred.append(float(score[in_bin].mean()))
            prob_true.append(float(actual[in_bin].mean()))
            counts.append(n)
    return {
        "label": label_text(label),
        "prob_pred": prob_pred,
        "prob_true": prob_true,
        "counts": counts,
        "bins": _CALIBRATION_BINS,
    }


def regression_details(
    y_true: Any, y_pred: Any, *, seed: int = 0, max_points: int = 2000
) -> dict[str, Any]:
    """Residual summary plus a sample of (actual, predicted, residual) points.

    Returns:
        ``{"rows", "sampled", "actual", "predicted", "residual",
        "residual_summary": {"mean", "std", "min", "p05", "p25", "p50", "p75",
        "p95", "max"}}`` where residual = predicted - actual and the point
        lists hold at most ``max_points`` rows (a seeded random sample).
    """
    y = label_array(y_true).astype(float)
    pred = label_array(y_pred).astype(float)
    resid = pred - y
    n = len(y)
    if n > max_points:
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(n, size=max_points, replace=False))
    else:
        keep = np.arange(n)
    quantiles = np.quantile(resid, [0.05, 0.25, 0.5, 0.75, 0.95]) if n else [np.nan] * 5
    summary = {
        "mean": float(resid.mean()) if n else None,
        "std": float(resid.std()) if n else None,
        "min": float(resid.min()) if n else None,
        "max": float(resid.max()) if n else None,
    }
    for name, value in zip(("p05", "p25", "p50", "p75", "p95"), quantiles):
        summary[name] = float(value) if n else None
    return {
        "rows": n,
        "sampled": bool(n > max_points),
        "actual": float_list(y[keep]),
        "predicted": float_list(pred[keep]),
        "residual": float_list(resid[keep]),
        "residual_summary": summary,
    }
