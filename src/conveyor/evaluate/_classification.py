"""Classification scoring from one confusion matrix (fast: it runs inside permutation loops)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from conveyor.errors import ConfigError, ModelError
from conveyor.evaluate._common import (
    MetricScores,
    class_codes,
    label_array,
    label_text,
    resolve_positive_class,
)

PROBA_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier")


def prepare_proba(
    y_proba: Any, classes: Sequence[Any], *, n_rows: int, positive_class: Any = None
) -> np.ndarray:
    """A ``(n_rows, len(classes))`` float matrix; a 1-D binary column is expanded."""
    proba = np.asarray(y_proba, dtype=float)
    if proba.ndim == 1:
        if len(classes) != 2:
            raise ModelError(
                f"y_proba: a 1-D probability column needs exactly 2 classes, got {len(classes)}"
            )
        pos_idx = list(classes).index(resolve_positive_class(classes, positive_class))
        proba = np.column_stack([1 - proba, proba] if pos_idx == 1 else [proba, 1 - proba])
    if proba.shape != (n_rows, len(classes)):
        raise ModelError(
            f"y_proba: expected shape ({n_rows}, {len(classes)}) (rows x classes), got {proba.shape}"
        )
    if not np.isfinite(proba).all():
        raise ModelError("y_proba: the model returned NaN or infinite probabilities")
    return proba


def predict_labels(
    proba: np.ndarray,
    classes: Sequence[Any],
    *,
    positive_class: Any = None,
    threshold: float | None,
) -> np.ndarray:
    """Labels from probabilities: a threshold on the positive class (binary) or the argmax."""
    labels = np.asarray(list(classes), dtype=object)
    if len(labels) == 2:
        pos_idx = list(classes).index(resolve_positive_class(classes, positive_class))
        cut = 0.5 if threshold is None else float(threshold)
        out = np.where(proba[:, pos_idx] >= cut, pos_idx, 1 - pos_idx)
    else:
        out = np.argmax(proba, axis=1)
    try:
        return labels[out].astype(np.asarray(classes).dtype)
    except (TypeError, ValueError):
        return labels[out]


def sorted_labels(values: list[Any]) -> list[Any]:
    try:
        return sorted(set(values))
    except TypeError:
        return sorted(set(values), key=str)


def classification_scores(
    task: str,
    y: np.ndarray,
    y_pred: Any,
    y_proba: Any,
    classes: Sequence[Any] | None,
    positive_class: Any,
    threshold: float | None,
) -> MetricScores:
    if classes is None:
        seen = [y] if y_pred is None else [y, label_array(y_pred)]
        classes = sorted_labels(np.concatenate(seen).tolist())
    classes = list(classes)
    binary = task == "binary"
    if binary and len(classes) != 2:
        raise ConfigError(
            f"task: 'binary' needs exactly 2 classes, got {len(classes)} "
            f"({', '.join(label_text(c) for c in classes[:10])})",
            hint="use task: multiclass",
        )
    proba = None
    if y_proba is not None:
        proba = prepare_proba(y_proba, classes, n_rows=len(y), positive_class=positive_class)
    if y_pred is None:
        if proba is None:
            raise ModelError("compute_metrics: classification needs y_pred or y_proba")
        pred = predict_labels(proba, classes, positive_class=positive_class, threshold=threshold)
    else:
        pred = label_array(y_pred)
        if len(pred) != len(y):
            raise ModelError(f"y_pred: expected {len(y)} predictions, got {len(pred)}")

    y_codes, labels = class_codes(y, classes)
    pred_codes, labels = class_codes(pred, labels)
    y_codes, _ = class_codes(y, labels)  # labels may have grown with unseen predictions
    k = len(labels)
    matrix = np.bincount(y_codes * k + pred_codes, minlength=k * k).reshape(k, k)
    scores = MetricScores()
    _label_scores(scores, matrix)
    if binary:
        pos = resolve_positive_class(classes, positive_class)
        _positive_class_scores(scores, matrix, classes.index(pos), pos)
    else:
        for name in ("precision", "recall", "f1"):
            scores[name] = scores[f"{name}_macro"]

    if proba is None:
        scores.notes.append(
            f"{', '.join(PROBA_METRICS)}: not computed (no probabilities: "
            "the model has no predict_proba)"
        )
        return scores
    onehot = np.zeros_like(proba)
    known = y_codes < len(classes)
    onehot[np.flatnonzero(known), y_codes[known]] = 1.0
    if binary:
        pos_idx = classes.index(resolve_positive_class(classes, positive_class))
        _binary_proba_scores(scores, onehot[:, pos_idx] == 1.0, proba[:, pos_idx], classes[pos_idx])
    else:
        _multiclass_proba_scores(scores, onehot, proba, classes)
    if known.all():
        p_true = np.clip(proba[np.arange(len(y)), y_codes], np.finfo(float).eps, 1.0)
        scores["log_loss"] = float(-np.mean(np.log(p_true)))
    else:
        unseen = sorted({label_text(v) for v in y[~known]})
        scores.notes.append(
            f"log_loss: not defined (y_true holds labels the model has no probability for: "
            f"{', '.join(map(repr, unseen[:5]))})"
        )
    return scores


def _label_scores(scores: MetricScores, matrix: np.ndarray) -> None:
    # Same conventions as scikit-learn: macro averages over the labels present in
    # y_true or y_pred, zero_division=0, balanced accuracy over labels in y_true.
    tp = np.diag(matrix).astype(float)
    support = matrix.sum(axis=1).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    present = (support > 0) | (predicted > 0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    scores["accuracy"] = float(tp.sum() / matrix.sum())
    scores["balanced_accuracy"] = float(recall[support > 0].mean())
    scores["f1_macro"] = float(f1[present].mean())
    scores["f1_weighted"] = float((f1 * support).sum() / support.sum())
    scores["precision_macro"] = float(precision[present].mean())
    scores["recall_macro"] = float(recall[present].mean())


def _positive_class_scores(
    scores: MetricScores, matrix: np.ndarray, pos_idx: int, pos: Any
) -> None:
    tp = int(matrix[pos_idx, pos_idx])
    fp = int(matrix[:, pos_idx].sum()) - tp
    fn = int(matrix[pos_idx, :].sum()) - tp
    if tp + fp == 0:
        scores["precision"] = 0.0
        scores.notes.append(f"precision: no row was predicted {label_text(pos)!r}; reported as 0")
    else:
        scores["precision"] = tp / (tp + fp)
    if tp + fn == 0:
        scores.notes.append(
            f"recall, f1: not defined (no row of class {label_text(pos)!r} in y_true)"
        )
        return
    scores["recall"] = tp / (tp + fn)
    scores["f1"] = 2 * tp / (2 * tp + fp + fn)


def _binary_proba_scores(
    scores: MetricScores, actual: np.ndarray, p_pos: np.ndarray, pos: Any
) -> None:
    from sklearn import metrics as skm

    scores["brier"] = float(np.mean((actual.astype(float) - p_pos) ** 2))
    n_pos = int(actual.sum())
    if n_pos in (0, len(actual)):
        only = label_text(pos) if n_pos else f"not {label_text(pos)}"
        scores.notes.append(f"roc_auc, pr_auc: not defined (y_true holds one class only: {only!r})")
        return
    scores["roc_auc"] = float(skm.roc_auc_score(actual, p_pos))
    scores["pr_auc"] = float(skm.average_precision_score(actual, p_pos))


def _multiclass_proba_scores(
    scores: MetricScores, onehot: np.ndarray, proba: np.ndarray, classes: list[Any]
) -> None:
    from sklearn import metrics as skm

    aucs, aps, skipped = [], [], []
    for k, label in enumerate(classes):
        actual = onehot[:, k] == 1.0
        if 0 < actual.sum() < len(actual):
            aucs.append(skm.roc_auc_score(actual, proba[:, k]))
            aps.append(skm.average_precision_score(actual, proba[:, k]))
        else:
            skipped.append(label_text(label))
    # Mean of the one-vs-rest Brier scores, so it stays on the binary 0..1 scale.
    scores["brier"] = float(np.mean((onehot - proba) ** 2))
    if not aucs:
        scores.notes.append("roc_auc, pr_auc: not defined (y_true holds one class only)")
        return
    scores["roc_auc"] = float(np.mean(aucs))
    scores["pr_auc"] = float(np.mean(aps))
    if skipped:
        scores.notes.append(
            f"roc_auc, pr_auc: one-vs-rest macro average over {len(aucs)} of {len(classes)} "
            f"classes (no row of {', '.join(repr(s) for s in skipped)} in y_true)"
        )
