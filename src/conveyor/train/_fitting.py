"""Fit features + estimator into one pipeline, with early stopping for boosted trees.

The features step is fitted first so the validation split can be transformed
and handed to the booster as its evaluation set. LightGBM, XGBoost and
HistGradientBoosting stop early on that set, the per-iteration validation
loss is kept as a learning curve, and the returned pipeline predicts with the
best iteration. Every other estimator is simply fitted.

The features step depends on the preprocessor and the rows, never on the
estimator, so fits on the same rows (the trials of a study, the candidates of
a run) share one fitted features step through a :class:`FeatureCache`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conveyor.train._feature_cache import FeatureCache
from conveyor.train.estimators import estimator_family, inner_estimator

__all__ = ["FitOutcome", "IterationCallback", "fit_pipeline"]

IterationCallback = Callable[[int, float, bool], None]
"""Called after each boosting iteration with ``(iteration (0-based), validation
value, higher_is_better)``; may raise (e.g. ``optuna.TrialPruned``) to stop."""

_LOGLOSS = frozenset({"binary_logloss", "multi_logloss", "logloss", "mlogloss", "log_loss"})
_HIGHER_IS_BETTER = frozenset({"auc", "aucpr", "average_precision", "map", "ndcg", "auc_mu", "pre"})


@dataclass
class FitOutcome:
    """A fitted pipeline and what early stopping learned."""

    pipeline: Any
    best_iteration: int | None = None
    """Boosting rounds the final model predicts with; None without early stopping."""
    curve: dict[str, list[float]] = field(default_factory=dict)
    """``{"valid_<metric>": [value per iteration]}`` (``logloss``, ``rmse``, …)."""
    higher_is_better: bool = False
    """Direction of the curve's metric (False for losses)."""
    eval_matrix: Any = None
    """``X_valid`` through the fitted features step (None without ``X_valid``): score the
    pipeline's model on it instead of transforming ``X_valid`` again."""


def fit_pipeline(
    estimator: Any,
    *,
    preprocessor: Any,
    X_train: Any,
    y_train: Any,
    X_valid: Any = None,
    y_valid: Any = None,
    early_stopping_rounds: int | None = None,
    sample_weight: np.ndarray | None = None,
    on_iteration: IterationCallback | None = None,
    client: Any = None,
    feature_cache: FeatureCache | None = None,
    rows: Hashable = "holdout",
) -> FitOutcome:
    """Fit ``Pipeline([("features", clone(preprocessor)), ("model", estimator)])``.

    Args:
        estimator: an unfitted estimator; fitted in place.
        preprocessor: any scikit-learn transformer; a clone is fitted.
        X_train: raw training frame.
        y_train: training target.
        X_valid: raw validation frame, or None (no early stopping, no curve).
        y_valid: validation target.
        early_stopping_rounds: stop after this many rounds without improvement;
            None keeps every round.
        sample_weight: per-row training weights, or None.
        on_iteration: called per boosting iteration (LightGBM and XGBoost).
        client: a ``distributed.Client``: LightGBM and XGBoost then train on the
            cluster (:mod:`conveyor.train._dask_fit`) and the pipeline holds the
            equivalent local model instead of ``estimator``; other estimators
            fit here as usual.
        feature_cache: share the fitted features step with other fits on the same
            rows; its preprocessor must be ``preprocessor``.
        rows: the cache key of ``(X_train, y_train, X_valid)``.
    """
    from sklearn.pipeline import Pipeline

    y_arr = np.asarray(y_train)
    if feature_cache is None:
        feature_cache = FeatureCache(preprocessor, max_bytes=0)
    elif feature_cache.preprocessor is not preprocessor:
        raise ValueError("fit_pipeline: feature_cache holds another preprocessor")
    features, Xt, X_eval = feature_cache.fitted(rows, X_train, y_arr, X_valid)
    family = estimator_family(estimator)
    has_valid = X_eval is not None and y_valid is not None and family != "other"
    Xv = X_eval if has_valid else None
    yv = np.asarray(y_valid) if has_valid else None
    weights = {} if sample_weight is None else {"sample_weight": sample_weight}

    if client is not None and family in ("lightgbm", "xgboost"):
        from conveyor.train._dask_fit import fit_booster_on_dask

        estimator, outcome = fit_booster_on_dask(
            estimator, Xt, y_arr, Xv, yv, client=client,
            early_stopping_rounds=early_stopping_rounds,
            sample_weight=sample_weight, on_iteration=on_iteration,
        )  # fmt: skip
    elif family == "lightgbm":
        outcome = _fit_lightgbm(
            estimator, Xt, y_arr, Xv, yv, early_stopping_rounds, weights, on_iteration
        )
    elif family == "xgboost":
        outcome = _fit_xgboost(
            estimator, Xt, y_arr, Xv, yv, early_stopping_rounds, weights, on_iteration
        )
    elif family == "hist_gradient_boosting":
        outcome = _fit_hist_gradient_boosting(
            estimator, Xt, y_arr, Xv, yv, early_stopping_rounds, weights
        )
    else:
        estimator.fit(Xt, y_arr, **weights)
        outcome = FitOutcome(pipeline=None)
    outcome.pipeline = Pipeline([("features", features), ("model", estimator)])
    outcome.eval_matrix = X_eval
    return outcome


def _curve_metric(name: str) -> tuple[str, Callable[[float], float], bool]:
    """Uniform curve names across libraries: ``logloss``, ``rmse``, ``mae`` or the library's."""
    base = name.split("@")[0]
    if name in _LOGLOSS:
        return "logloss", float, False
    if name in {"l2", "mse", "regression", "mean_squared_error"}:
        return "rmse", lambda v: math.sqrt(max(float(v), 0.0)), False
    if name in {"l2_root", "rmse", "root_mean_squared_error"}:
        return "rmse", float, False
    if name in {"l1", "mae", "mean_absolute_error"}:
        return "mae", float, False
    return name, float, base in _HIGHER_IS_BETTER


def _fit_lightgbm(
    model: Any,
    Xt: Any,
    y: np.ndarray,
    Xv: Any,
    yv: np.ndarray | None,
    rounds: int | None,
    weights: dict[str, Any],
    on_iteration: IterationCallback | None,
) -> FitOutcome:
    import lightgbm as lgb

    if Xv is None:
        model.fit(Xt, y, **weights)
        return FitOutcome(pipeline=None)
    from sklearn.base import is_classifier

    if is_classifier(model):
        # LightGBM's eval_X path does not encode labels (4.7), so hand it the
        # codes its own encoder gives: positions in the sorted training labels.
        yv = np.searchsorted(np.unique(y), yv)
    record: dict[str, dict[str, list[float]]] = {}
    callbacks: list[Any] = [lgb.record_evaluation(record)]
    if rounds:
        callbacks.append(lgb.early_stopping(rounds, first_metric_only=True, verbose=False))
    if on_iteration is not None:

        def report(env: Any) -> None:
            first = env.evaluation_result_list[0]
            _, convert, higher = _curve_metric(first[1])
            on_iteration(env.iteration, convert(first[2]), higher)

        callbacks.append(report)
    model.fit(Xt, y, eval_X=Xv, eval_y=yv, eval_names=["valid"], callbacks=callbacks, **weights)
    metric, values = next(iter(record["valid"].items()))
    name, convert, higher = _curve_metric(metric)
    best = int(model.best_iteration_) if rounds and model.best_iteration_ else None
    return FitOutcome(
        pipeline=None,
        best_iteration=best,
        curve={f"valid_{name}": [convert(v) for v in values]},
        higher_is_better=higher,
    )


def _fit_xgboost(
    model: Any,
    Xt: Any,
    y: np.ndarray,
    Xv: Any,
    yv: np.ndarray | None,
    rounds: int | None,
    weights: dict[str, Any],
    on_iteration: IterationCallback | None,
) -> FitOutcome:
    import xgboost as xgb

    template = inner_estimator(model)
    if Xv is None:
        template.set_params(early_stopping_rounds=None)
        model.fit(Xt, y, **weights)
        return FitOutcome(pipeline=None)
    if rounds and template.early_stopping_rounds is None:
        template.set_params(early_stopping_rounds=rounds)
    if on_iteration is not None:

        class _Report(xgb.callback.TrainingCallback):
            def after_iteration(self, booster: Any, epoch: int, evals_log: Any) -> bool:
                metric, values = list(next(iter(evals_log.values())).items())[-1]
                _, convert, higher = _curve_metric(metric)
                on_iteration(epoch, convert(values[-1]), higher)
                return False

        template.set_params(callbacks=[_Report()])
    try:
        model.fit(Xt, y, eval_set=[(Xv, yv)], verbose=False, **weights)
    finally:
        # Callbacks may close over an Optuna trial: never ship them in the model.
        template.set_params(callbacks=None)
    fitted = getattr(model, "estimator_", model)
    fitted.set_params(callbacks=None)
    metric, values = list(fitted.evals_result()["validation_0"].items())[-1]
    name, convert, higher = _curve_metric(metric)
    best = None
    if fitted.early_stopping_rounds:
        # XGBoost counts from 0; report rounds, like LightGBM's best_iteration_.
        best = int(fitted.best_iteration) + 1
    return FitOutcome(
        pipeline=None,
        best_iteration=best,
        curve={f"valid_{name}": [convert(v) for v in values]},
        higher_is_better=higher,
    )


def _fit_hist_gradient_boosting(
    model: Any,
    Xt: Any,
    y: np.ndarray,
    Xv: Any,
    yv: np.ndarray | None,
    rounds: int | None,
    weights: dict[str, Any],
) -> FitOutcome:
    if Xv is None or not rounds or model.early_stopping is False:
        if model.early_stopping == "auto":
            model.set_params(early_stopping=False)  # no hidden split of the training data
        model.fit(Xt, y, **weights)
        return FitOutcome(pipeline=None)
    model.set_params(early_stopping=True, n_iter_no_change=rounds)
    model.fit(Xt, y, X_val=Xv, y_val=yv, **weights)
    # validation_score_[0] is the score before the first iteration.
    scores = np.asarray(model.validation_score_[1:], dtype=float)
    if model.scoring == "loss":
        name, convert = _hgb_loss_curve(model)
        values = [convert(-s) for s in scores]
        higher = False
    else:
        name, values, higher = str(model.scoring), scores.tolist(), True
    best = int(np.argmax(values) if higher else np.argmin(values)) + 1
    if best < model.n_iter_:
        # HistGradientBoosting keeps the rounds after the best one; refit to
        # exactly the best count (deterministic under the same random_state).
        model.set_params(max_iter=best, early_stopping=False)
        model.fit(Xt, y, **weights)
    return FitOutcome(
        pipeline=None, best_iteration=best, curve={f"valid_{name}": values}, higher_is_better=higher
    )


def _hgb_loss_curve(model: Any) -> tuple[str, Callable[[float], float]]:
    loss = str(model.loss)
    if loss == "log_loss":
        return "logloss", float
    if loss == "squared_error":
        # scikit-learn's squared error loss is half the mean squared error.
        return "rmse", lambda v: math.sqrt(max(2.0 * v, 0.0))
    if loss == "absolute_error":
        return "mae", float
    return loss, float
