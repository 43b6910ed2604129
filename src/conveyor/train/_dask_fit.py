"""Fit LightGBM / XGBoost through their Dask interfaces, and hand back the local model.

:func:`~conveyor.train._fitting.fit_pipeline` fits the features step on the
client as always, then, given a Dask ``client``, calls
:func:`fit_booster_on_dask` with the transformed matrices. The training rows
are cut into one partition per worker and scattered to the workers; each
worker builds the booster's dataset from its own rows and the workers train
one model together (LightGBM's data-parallel tree learner, XGBoost's
collective). The result is converted to the ordinary scikit-learn model
(``DaskLGBMClassifier.to_local()``, an ``XGBClassifier`` loaded from the
trained booster), so the pipeline, the bundle, ONNX export and serving are
exactly those of a local fit.

Early stopping: XGBoost's Dask interface stops on the validation set itself.
LightGBM's does not support early stopping, so every round is trained and
the validation curve is computed here, one tree at a time, from the raw
scores of the validation rows; the best iteration is chosen with LightGBM's
rule (stop after ``early_stopping_rounds`` rounds without a strict
improvement of the first metric) and the model predicts with it, as after a
local fit.

Classifiers: partitions are cut stratified (every class with at least as
many rows as partitions is in every partition), because each LightGBM worker
encodes the labels it holds; with a rarer class the partitions are fewer.

Predictions of a Dask fit are close to, not equal to, a local fit's: in
distributed training each worker bins its share of the features from its
own rows, so split thresholds differ slightly (see docs/scale-out.md).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from conveyor.errors import ModelError
from conveyor.train._fitting import FitOutcome, IterationCallback, _curve_metric
from conveyor.train.estimators import estimator_family, inner_estimator

__all__ = ["fit_booster_on_dask", "supports_dask"]

_DEFAULT_METRIC = {
    "binary": "binary_logloss",
    "multiclass": "multi_logloss",
    "softmax": "multi_logloss",
    "regression": "l2",
    "regression_l2": "l2",
    "l2": "l2",
    "mse": "l2",
    "mean_squared_error": "l2",
    "rmse": "l2",
    "root_mean_squared_error": "l2",
    "regression_l1": "l1",
    "l1": "l1",
    "mae": "l1",
    "mean_absolute_error": "l1",
}
_METRIC_ALIASES = {
    "binary_logloss": "binary_logloss",
    "binary": "binary_logloss",
    "multi_logloss": "multi_logloss",
    "multiclass": "multi_logloss",
    "softmax": "multi_logloss",
    "l2": "l2",
    "mse": "l2",
    "mean_squared_error": "l2",
    "regression": "l2",
    "regression_l2": "l2",
    "rmse": "rmse",
    "l2_root": "rmse",
    "root_mean_squared_error": "rmse",
    "l1": "l1",
    "mae": "l1",
    "mean_absolute_error": "l1",
    "regression_l1": "l1",
    "auc": "auc",
}


def supports_dask(estimator: Any) -> bool:
    """True for the estimators with a Dask interface (LightGBM and XGBoost)."""
    return estimator_family(estimator) in {"lightgbm", "xgboost"}


def fit_booster_on_dask(
    estimator: Any,
    Xt: Any,
    y: np.ndarray,
    Xv: Any,
    yv: np.ndarray | None,
    *,
    client: Any,
    early_stopping_rounds: int | None,
    sample_weight: np.ndarray | None = None,
    on_iteration: IterationCallback | None = None,
) -> tuple[Any, FitOutcome]:
    """Train ``estimator``'s booster on the cluster; return ``(fitted local estimator, outcome)``.

    Args:
        estimator: an unfitted LightGBM model or a LabelEncodedClassifier of an
            XGBoost one (as :func:`~conveyor.train.estimators.resolve_estimator`
            builds them); its parameters are used, it is not modified.
        Xt, y: the transformed training matrix (dense or sparse) and target.
        Xv, yv: the transformed validation matrix and target, or None.
        client: a ``distributed.Client``.
        early_stopping_rounds: as for a local fit.
        sample_weight: per-row training weights, or None.
        on_iteration: called once per kept iteration with its validation value
            after the fit (progress only: a Dask fit cannot be pruned).

    Raises:
        ModelError: the estimator has no Dask interface, or LightGBM early
            stopping on a metric this module cannot compute.

    Example:
        >>> model, outcome = fit_booster_on_dask(est, Xt, y, Xv, yv, client=client,
        ...                                      early_stopping_rounds=50)  # doctest: +SKIP
    """
    from sklearn.base import is_classifier

    family = estimator_family(estimator)
    classifier = is_classifier(inner_estimator(estimator))
    parts = _partition_rows(client, y if classifier else None, len(y))
    X_d = _scatter(client, Xt, parts)
    w_d = None if sample_weight is None else _scatter(client, np.asarray(sample_weight), parts)
    if family == "lightgbm":
        return _fit_lightgbm(
            estimator, X_d, _scatter(client, y, parts), w_d, Xv, yv, early_stopping_rounds,
            on_iteration, classifier, client,
        )  # fmt: skip
    if family == "xgboost":
        return _fit_xgboost(
            estimator, X_d, y, parts, w_d, Xv, yv, early_stopping_rounds, on_iteration,
            classifier, client,
        )  # fmt: skip
    raise ModelError(
        f"{type(inner_estimator(estimator)).__name__} has no Dask interface; "
        "only LightGBM and XGBoost train on the cluster"
    )


# ---------------------------------------------------------------- partitions


def _partition_rows(client: Any, labels: np.ndarray | None, n_rows: int) -> list[np.ndarray]:
    """Row indices of each partition (in input order): one per worker, stratified by label."""
    n_parts = max(1, min(len(client.nthreads()), n_rows))
    if labels is not None:
        _, codes, counts = np.unique(np.asarray(labels, dtype=object), return_inverse=True,
                                     return_counts=True)  # fmt: skip
        n_parts = max(1, min(n_parts, int(counts.min())))
        order = np.argsort(codes, kind="stable")
        slot = np.empty(n_rows, dtype=np.int64)
        slot[order] = np.arange(n_rows) % n_parts
    else:
        slot = np.arange(n_rows) % n_parts
    return [np.flatnonzero(slot == p) for p in range(n_parts)]


def _scatter(client: Any, data: Any, parts: list[np.ndarray]) -> Any:
    """``data``'s rows as a Dask array of one block per partition, each on its own worker."""
    import dask.array as da

    workers = list(client.nthreads())
    blocks = []
    for index, rows in enumerate(parts):
        chunk = data[rows]
        [future] = client.scatter([chunk], workers=[workers[index % len(workers)]], hash=False)
        meta = chunk[:0]
        blocks.append(da.from_delayed(future, shape=chunk.shape, dtype=chunk.dtype, meta=meta))
    return da.concatenate(blocks, axis=0)


# ---------------------------------------------------------------- LightGBM


def _fit_lightgbm(
    estimator: Any,
    X_d: Any,
    y_d: Any,
    w_d: Any,
    Xv: Any,
    yv: np.ndarray | None,
    rounds: int | None,
    on_iteration: IterationCallback | None,
    classifier: bool,
    client: Any,
) -> tuple[Any, FitOutcome]:
    import lightgbm as lgb

    params = estimator.get_params()
    n_jobs = params.pop("n_jobs", None)  # each worker uses its own threads
    factory = lgb.DaskLGBMClassifier if classifier else lgb.DaskLGBMRegressor
    distributed = factory(client=client, **params)
    weights = {} if w_d is None else {"sample_weight": w_d}
    with warnings.catch_warnings():
        # The Dask estimator's own n_jobs default: each worker uses its threads anyway.
        warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored")
        distributed.fit(X_d, y_d, **weights)
    model = distributed.to_local()
    model.set_params(n_jobs=n_jobs)
    if Xv is None or yv is None:
        return model, FitOutcome(pipeline=None)
    metric = _lightgbm_metric(model)
    name, convert, higher = _curve_metric(metric)
    values = _lightgbm_curve(model, Xv, yv, metric, classifier)
    best = None
    if rounds:
        best, stop = _early_stop(values, rounds, higher_is_better=metric == "auc")
        values = values[:stop]
        model.booster_.best_iteration = best
        model._best_iteration = best
    curve = [convert(v) for v in values]
    if on_iteration is not None:
        for iteration, value in enumerate(curve):
            on_iteration(iteration, value, higher)
    return model, FitOutcome(
        pipeline=None, best_iteration=best, curve={f"valid_{name}": curve}, higher_is_better=higher
    )


def _lightgbm_metric(model: Any) -> str:
    params = model.get_params()
    metric = params.get("metric")
    if isinstance(metric, list | tuple):
        metric = metric[0] if metric else None
    objective = str(model.objective_)
    name = _METRIC_ALIASES.get(str(metric)) if metric else _DEFAULT_METRIC.get(objective)
    if name is None:
        raise ModelError(
            f"early stopping of LightGBM on Dask computes binary_logloss, multi_logloss, l2, "
            f"rmse, l1 and auc; this model uses metric {metric or objective!r}",
            hint="set early_stopping_rounds: null for this model, or executor: {type: local}",
        )
    return name


def _lightgbm_curve(
    model: Any, Xv: Any, yv: np.ndarray, metric: str, classifier: bool
) -> list[float]:
    """The validation metric after each boosting round, from per-tree raw scores."""
    booster = model.booster_
    n_rounds = booster.current_iteration()
    target = np.searchsorted(model.classes_, yv) if classifier else np.asarray(yv, dtype=float)
    raw: np.ndarray | None = None
    values = []
    for i in range(n_rounds):
        step = booster.predict(Xv, raw_score=True, start_iteration=i, num_iteration=1)
        raw = step if raw is None else raw + step
        values.append(_metric_value(metric, raw, target))
    return values


def _metric_value(metric: str, raw: np.ndarray, target: np.ndarray) -> float:
    eps = 1e-15
    if metric == "binary_logloss":
        p = np.clip(1.0 / (1.0 + np.exp(-raw)), eps, 1.0 - eps)
        return float(-np.mean(np.where(target == 1, np.log(p), np.log(1.0 - p))))
    if metric == "multi_logloss":
        shifted = raw - raw.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return float(-np.mean(np.maximum(log_p[np.arange(len(target)), target], math.log(eps))))
    if metric == "auc":
        from sklearn.metrics import roc_auc_score

        return float(roc_auc_score(target, raw))
    error = raw - target
    if metric == "l1":
        return float(np.mean(np.abs(error)))
    mse = float(np.mean(error**2))
    return math.sqrt(mse) if metric == "rmse" else mse


def _early_stop(values: list[float], rounds: int, *, higher_is_better: bool) -> tuple[int, int]:
    """LightGBM's rule: ``(best iteration (1-based), iterations trained before stopping)``."""
    best_index, best = 0, values[0] if values else math.nan
    for i, value in enumerate(values):
        if (value > best) if higher_is_better else (value < best):
            best_index, best = i, value
        elif i - best_index >= rounds:
            return best_index + 1, i + 1
    return best_index + 1, len(values)


# ---------------------------------------------------------------- XGBoost


def _fit_xgboost(
    estimator: Any,
    X_d: Any,
    y: np.ndarray,
    parts: list[np.ndarray],
    w_d: Any,
    Xv: Any,
    yv: np.ndarray | None,
    rounds: int | None,
    on_iteration: IterationCallback | None,
    classifier: bool,
    client: Any,
) -> tuple[Any, FitOutcome]:
    import xgboost as xgb
    import xgboost.dask as xgb_dask
    from sklearn.base import clone

    template = inner_estimator(estimator)
    params = template.get_params()
    params.pop("n_jobs", None)
    params.pop("callbacks", None)
    encoder = None
    target = np.asarray(y)
    if classifier:
        from sklearn.preprocessing import LabelEncoder

        encoder = LabelEncoder().fit(np.asarray(y, dtype=object))
        target = encoder.transform(np.asarray(y, dtype=object))
    has_valid = Xv is not None and yv is not None
    params["early_stopping_rounds"] = (
        (params.get("early_stopping_rounds") or rounds) if has_valid else None
    )
    factory = xgb_dask.DaskXGBClassifier if classifier else xgb_dask.DaskXGBRegressor
    distributed = factory(**params)
    distributed.client = client
    fit_kwargs: dict[str, Any] = {"verbose": False}
    if w_d is not None:
        fit_kwargs["sample_weight"] = w_d
    if has_valid:
        valid_target = (
            encoder.transform(np.asarray(yv, dtype=object)) if encoder is not None else yv
        )
        valid_parts = _partition_rows(client, None, Xv.shape[0])
        fit_kwargs["eval_set"] = [
            (
                _scatter(client, Xv, valid_parts),
                _scatter(client, np.asarray(valid_target), valid_parts),
            )
        ]
    distributed.fit(X_d, _scatter(client, target, parts), **fit_kwargs)
    local_cls = xgb.XGBClassifier if classifier else xgb.XGBRegressor
    local = local_cls(**{**template.get_params(), "callbacks": None})
    local.load_model(bytearray(distributed.get_booster().save_raw("json")))
    outcome = FitOutcome(pipeline=None)
    if has_valid:
        metric, values = list(distributed.evals_result()["validation_0"].items())[-1]
        name, convert, higher = _curve_metric(metric)
        curve = [convert(v) for v in values]
        best = int(distributed.best_iteration) + 1 if params["early_stopping_rounds"] else None
        outcome = FitOutcome(
            pipeline=None, best_iteration=best, curve={f"valid_{name}": curve},
            higher_is_better=higher,
        )  # fmt: skip
        if on_iteration is not None:
            for iteration, value in enumerate(curve):
                on_iteration(iteration, value, higher)
    if encoder is None:
        return local, outcome
    wrapper = clone(estimator)
    wrapper.label_encoder_ = encoder
    wrapper.classes_ = encoder.classes_
    wrapper.estimator_ = local
    wrapper.n_features_in_ = int(X_d.shape[1])
    return wrapper, outcome
