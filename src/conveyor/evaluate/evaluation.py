"""``evaluate_model``: every number the report and the gates need, for one fitted model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from conveyor.errors import ConfigError, ConveyorError, ModelError
from conveyor.evaluate._common import (
    CLASSIFICATION_TASKS,
    check_task,
    label_text,
    resolve_positive_class,
    to_jsonable,
)
from conveyor.evaluate.baseline import beats_baseline, evaluate_baseline
from conveyor.evaluate.cv import cross_validate_scores
from conveyor.evaluate.details import classification_details, regression_details
from conveyor.evaluate.gates import GateResult, check_gates
from conveyor.evaluate.importance import permutation_importance_table
from conveyor.evaluate.metrics import (
    compute_metrics,
    default_primary_metric,
    greater_is_better,
    metric_names,
    predict_labels,
    prepare_proba,
)
from conveyor.evaluate.slices import slice_metrics
from conveyor.evaluate.threshold import ThresholdChoice, choose_threshold, parse_threshold_rule

if TYPE_CHECKING:
    from conveyor.config.models import EvaluateConfig

__all__ = [
    "Evaluation",
    "check_evaluate_config",
    "evaluate_model",
    "overfit_warning",
    "resolve_primary_metric",
]

_CV_METRICS = {
    "binary": ("roc_auc", "accuracy", "f1", "log_loss"),
    "multiclass": ("f1_macro", "accuracy", "log_loss"),
    "regression": ("rmse", "mae", "r2"),
}


@dataclass
class Evaluation:
    """Everything known about one model after evaluation (JSON via :meth:`to_dict`)."""

    model_name: str
    task: str
    primary_metric: str
    metrics: dict[str, float]
    """Test-split metrics (binary labels at the chosen threshold)."""
    train_metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    beats_baseline: bool
    baseline_reason: str
    threshold: ThresholdChoice | None = None
    cv: dict[str, dict[str, Any]] | None = None
    slices: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    importance: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    """Curves and tables: classification_details(...) or regression_details(...)."""
    gates: GateResult = field(default_factory=GateResult)
    warnings: list[str] = field(default_factory=list)
    """Things a reader must not miss: overfitting, no better than baseline, failed extras."""
    notes: list[str] = field(default_factory=list)
    """Fine print: metrics left out and why, rows skipped, where the threshold came from."""
    curves: dict[str, list[float]] | None = None
    """Per-iteration training curves (e.g. validation loss), when the trainer recorded them."""
    classes: list[str] | None = None
    positive_class: str | None = None
    rows: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only; NaN and infinities become ``None``."""
        return to_jsonable(
            {
                "model_name": self.model_name,
                "task": self.task,
                "primary_metric": self.primary_metric,
                "metrics": dict(self.metrics),
                "train_metrics": dict(self.train_metrics),
                "baseline_metrics": dict(self.baseline_metrics),
                "beats_baseline": self.beats_baseline,
                "baseline_reason": self.baseline_reason,
                "threshold": None if self.threshold is None else self.threshold.to_dict(),
                "cv": self.cv,
                "slices": self.slices,
                "importance": self.importance,
                "details": self.details,
                "gates": self.gates.to_dict(),
                "warnings": self.warnings,
                "notes": self.notes,
                "curves": self.curves,
                "classes": self.classes,
                "positive_class": self.positive_class,
                "rows": self.rows,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evaluation:
        """Rebuild an evaluation stored with :meth:`to_dict` (to render a report later)."""
        values = dict(data)
        th = values.pop("threshold", None)
        gates = values.pop("gates", None) or {}
        known = set(cls.__dataclass_fields__)
        kwargs = {k: v for k, v in values.items() if k in known}
        return cls(
            **kwargs,
            threshold=None if th is None else ThresholdChoice(**th),
            gates=GateResult(**gates),
        )


def resolve_primary_metric(task: str, primary_metric: str | None) -> str:
    """The configured primary metric, checked against ``task``, or the task's default."""
    check_task(task)
    if primary_metric is None:
        return default_primary_metric(task)
    if primary_metric not in metric_names(task):
        raise ConfigError(
            f"evaluate.primary_metric: {primary_metric!r} is not a {task} metric; "
            f"available: {', '.join(metric_names(task))}"
        )
    return primary_metric


def check_evaluate_config(config: EvaluateConfig, *, task: str) -> None:
    """Fail fast, before any data is read, on a bad primary metric, gate or threshold rule."""
    resolve_primary_metric(task, config.primary_metric)
    check_gates(config.gates, {}, task=task)
    if task == "binary":
        parse_threshold_rule(config.threshold)


def overfit_warning(
    train_metric: float, test_metric: float, *, metric: str, gap: float
) -> str | None:
    """A warning when the train score beats the test score by more than ``gap``.

    For scores (higher is better) the gap is absolute (``train - test``);
    for losses and errors (rmse, log_loss, …), whose scale depends on the
    data, it is relative to the test value (``(test - train) / |test|``).

    Example:
        >>> overfit_warning(0.99, 0.80, metric="roc_auc", gap=0.1)
        'roc_auc is 0.99 on train but 0.8 on test (gap 0.19 > 0.1): the model may be overfitting'
    """
    if train_metric is None or test_metric is None:
        return None
    if not (np.isfinite(train_metric) and np.isfinite(test_metric)):
        return None
    if greater_is_better(metric):
        diff, shown = train_metric - test_metric, f"gap {train_metric - test_metric:.3g}"
    else:
        diff = (test_metric - train_metric) / max(abs(test_metric), 1e-12)
        shown = f"relative gap {diff:.3g}"
    if diff <= gap:
        return None
    return (
        f"{metric} is {train_metric:.4g} on train but {test_metric:.4g} on test "
        f"({shown} > {gap:g}): the model may be overfitting"
    )


def evaluate_model(
    pipeline: Any,
    *,
    task: str,
    X_train: Any,
    y_train: Any,
    X_test: Any,
    y_test: Any,
    config: EvaluateConfig,
    classes: Sequence[Any] | None,
    positive_class: Any,
    seed: int,
    primary_metric: str | None,
    model_name: str,
    cv_pipeline: Any = None,
    curves: dict[str, list[float]] | None = None,
    threshold_data: tuple[Any, Any] | None = None,
) -> Evaluation:
    """Evaluate a fitted pipeline on the test split against the baseline and the gates.

    For binary tasks the decision threshold follows ``config.threshold`` and
    is chosen on ``threshold_data`` (the validation split; the training split
    when it is not given). Cross-validation (``config.cv_folds``) refits
    ``cv_pipeline`` (default: an unfitted clone of ``pipeline``) on the
    training split. Permutation importance and slices run on the test split.

    Example:
        >>> ev = evaluate_model(pipe, task="binary", X_train=Xtr, y_train=ytr,  # doctest: +SKIP
        ...     X_test=Xte, y_test=yte, config=EvaluateConfig(), classes=pipe.classes_,
        ...     positive_class=1, seed=0, primary_metric=None, model_name="logreg")
        >>> ev.gates.passed, ev.metrics["roc_auc"]  # doctest: +SKIP
    """
    check_task(task)
    primary = resolve_primary_metric(task, primary_metric)
    check_evaluate_config(config, task=task)
    warnings: list[str] = []
    notes: list[str] = []
    is_clf = task in CLASSIFICATION_TASKS
    if is_clf and classes is None:
        classes = getattr(pipeline, "classes_", None)
    labels = list(classes) if classes is not None else None

    if task == "binary" and labels is not None:
        positive_class = resolve_positive_class(labels, positive_class)
    elif task != "binary":
        positive_class = None

    choice: ThresholdChoice | None = None
    if task == "binary" and labels is not None and hasattr(pipeline, "predict_proba"):
        X_th, y_th = threshold_data if threshold_data is not None else (X_train, y_train)
        source = "validation" if threshold_data is not None else "training"
        proba_th = _proba(pipeline, X_th, labels, positive_class, model_name, source)
        choice = choose_threshold(
            y_th,
            proba_th[:, labels.index(positive_class)],
            rule=config.threshold,
            positive_class=positive_class,
        )
        if choice.rule != "default":
            notes.append(f"threshold {choice.threshold:.4g} chosen on the {source} split")
        if choice.note:
            warnings.append(choice.note)
    cut = None if choice is None else choice.threshold

    def score(X: Any, y: Any, split: str) -> tuple[Any, Any, Any]:
        proba = None
        if is_clf and labels is not None and hasattr(pipeline, "predict_proba"):
            proba = _proba(pipeline, X, labels, positive_class, model_name, split)
            pred = predict_labels(proba, labels, positive_class=positive_class, threshold=cut)
        else:
            pred = _call(pipeline.predict, X, model_name, split)
        scores = compute_metrics(
            task, y, y_pred=pred, y_proba=proba, classes=labels, positive_class=positive_class
        )
        return scores, pred, proba

    test_scores, pred, proba = score(X_test, y_test, "test")
    train_scores, _, _ = score(X_train, y_train, "training")
    notes.extend(f"test: {n}" for n in test_scores.notes)
    baseline = evaluate_baseline(
        task, X_train, y_train, X_test, y_test,
        classes=labels, positive_class=positive_class, seed=seed,
    )  # fmt: skip
    better, reason = beats_baseline(task, primary, test_scores, baseline)
    if not better:
        warnings.append(f"no better than the baseline: {reason}")
    overfit = overfit_warning(
        train_scores.get(primary), test_scores.get(primary),  # type: ignore[arg-type]
        metric=primary, gap=config.overfit_gap,
    )  # fmt: skip
    if overfit:
        warnings.append(overfit)

    # Slices first: a misspelt column is a config error worth raising before CV runs.
    slices = {}
    if config.slices:
        slices = slice_metrics(
            task, X_test, y_test, pred, proba, columns=config.slices,
            classes=labels, positive_class=positive_class,
        )  # fmt: skip

    cv = None
    if config.cv_folds:
        from sklearn.base import clone

        try:
            cv = cross_validate_scores(
                cv_pipeline if cv_pipeline is not None else clone(pipeline),
                X_train, y_train, task=task, folds=config.cv_folds, seed=seed,
                metrics=[primary, *_CV_METRICS[task]], positive_class=positive_class,
                threshold=cut,
            )  # fmt: skip
        except ConveyorError as exc:
            warnings.append(f"cross-validation skipped: {exc.headline}")

    importance: list[dict[str, Any]] = []
    if config.permutation_importance:
        try:
            importance = permutation_importance_table(
                pipeline, X_test, y_test, task=task, metric=primary, seed=seed,
                positive_class=positive_class, threshold=cut,
            )  # fmt: skip
        except ConveyorError as exc:
            warnings.append(f"permutation importance skipped: {exc.headline}")

    if is_clf:
        details = classification_details(
            y_test, y_pred=pred, y_proba=proba, classes=labels or [], positive_class=positive_class
        )
    else:
        details = regression_details(y_test, pred, seed=seed)

    return Evaluation(
        model_name=model_name,
        task=task,
        primary_metric=primary,
        metrics=dict(test_scores),
        train_metrics=dict(train_scores),
        baseline_metrics=dict(baseline),
        beats_baseline=better,
        baseline_reason=reason,
        threshold=choice,
        cv=cv,
        slices=slices,
        importance=importance,
        details=details,
        gates=check_gates(config.gates, test_scores, task=task),
        warnings=warnings,
        notes=notes,
        curves=curves,
        classes=None if labels is None else [label_text(c) for c in labels],
        positive_class=None if positive_class is None else label_text(positive_class),
        rows={"train": len(y_train), "test": len(y_test)}
        | ({} if threshold_data is None else {"threshold": len(threshold_data[1])}),
    )


def _call(fn: Any, X: Any, model_name: str, split: str) -> Any:
    try:
        return fn(X)
    except ConveyorError:
        raise
    except Exception as exc:
        raise ModelError(
            f"{model_name}: predicting on the {split} split failed: {type(exc).__name__}: {exc}"
        ) from exc


def _proba(
    pipeline: Any, X: Any, labels: list[Any], positive_class: Any, model_name: str, split: str
) -> np.ndarray:
    raw = _call(pipeline.predict_proba, X, model_name, split)
    return prepare_proba(raw, labels, n_rows=len(X), positive_class=positive_class)
