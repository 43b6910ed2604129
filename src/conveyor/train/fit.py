"""Fit model candidates, tune them when asked, and rank them on one validation protocol.

Every candidate is a fitted ``Pipeline([("features", …), ("model", …)])``
scored on the same data: the validation split when there is one, otherwise
out-of-fold predictions of a seeded k-fold on the training split.

Example:
    >>> board = fit_candidates(config.models, preprocessor=pre, X_train=X, y_train=y,
    ...                        X_valid=Xv, y_valid=yv, task="binary", seed=42)  # doctest: +SKIP
    >>> board.best.pipeline.predict(Xv)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from conveyor.config.models import ModelSpec
from conveyor.errors import ConveyorError, ModelError
from conveyor.train._feature_cache import FeatureCache
from conveyor.train._fitting import FitOutcome, IterationCallback, fit_pipeline
from conveyor.train._validation import (
    check_valid_classes,
    fold_rows,
    make_folds,
    predict_outputs,
    score_all,
)
from conveyor.train.estimators import fit_time_weights, inner_estimator, resolve_estimator
from conveyor.train.scoring import default_primary_metric, get_metric
from conveyor.train.targets import check_target

if TYPE_CHECKING:
    from conveyor.train.tune import TuneResult

__all__ = ["Candidate", "Leaderboard", "ProgressCallback", "fit_candidate", "fit_candidates"]

ProgressCallback = Callable[[str, "float | None"], None]
"""``on_progress(label, fraction)``: a short label and a fraction in [0, 1] or None."""


@dataclass
class Candidate:
    """One fitted model and what is known about it.

    Attributes:
        name: the model's label (``ModelSpec.label``).
        spec: the spec as configured (before tuning).
        pipeline: fitted ``Pipeline`` of ``features`` and ``model``.
        params: the parameters set from config and tuning.
        best_iteration: boosting rounds used after early stopping, else None.
        curve: per-iteration validation loss, ``{"valid_logloss": [...]}``.
        fit_seconds: wall time of the final fit (tuning excluded).
        validation_metrics: every training metric on the validation protocol.
        tuning: the tuning result when the spec had ``tune``.
        warnings: things worth telling the user.
    """

    name: str
    spec: ModelSpec
    pipeline: Any
    params: dict[str, Any]
    best_iteration: int | None
    curve: dict[str, list[float]]
    fit_seconds: float
    validation_metrics: dict[str, float]
    tuning: TuneResult | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def estimator_name(self) -> str:
        """Class name of the fitted estimator (``LGBMClassifier``)."""
        return type(inner_estimator(self.pipeline.named_steps["model"])).__name__


@dataclass
class Leaderboard:
    """Candidates ranked best first on ``primary_metric``."""

    candidates: list[Candidate]
    primary_metric: str
    greater_is_better: bool
    validation: str = "holdout"
    """``holdout`` (the validation split) or ``cv<k>`` (out-of-fold on training)."""
    warnings: list[str] = field(default_factory=list)

    @property
    def best(self) -> Candidate:
        """The top-ranked candidate."""
        return self.candidates[0]

    @property
    def rows(self) -> list[dict[str, Any]]:
        """One display row per candidate, best first."""
        return [
            {
                "rank": rank,
                "name": c.name,
                "estimator": c.estimator_name,
                self.primary_metric: c.validation_metrics.get(self.primary_metric),
                "fit_seconds": round(c.fit_seconds, 3),
                "best_iteration": c.best_iteration,
                "n_trials": c.tuning.n_trials if c.tuning else None,
            }
            for rank, c in enumerate(self.candidates, start=1)
        ]


def fit_candidate(
    spec: ModelSpec,
    *,
    preprocessor: Any,
    X_train: Any,
    y_train: Any,
    X_valid: Any,
    y_valid: Any,
    task: str,
    seed: int,
    primary_metric: str,
    classes: Sequence[Any] | None = None,
    pos_label: Any = None,
    cv_folds: int = 5,
    where: str = "models[0]",
    on_progress: ProgressCallback | None = None,
    client: Any = None,
    feature_cache: FeatureCache | None = None,
) -> Candidate:
    """Fit one model spec into a features + estimator pipeline and score it.

    Boosted trees (LightGBM, XGBoost, HistGradientBoosting) stop early on the
    validation split and keep the per-iteration validation loss; the
    pipeline predicts with the best iteration. Without a validation split
    (``X_valid`` None) the metrics are out-of-fold over ``cv_folds`` folds of
    the training split and boosters use all their rounds.

    Args:
        spec: the ``models[i]`` entry (tuned params already merged in).
        preprocessor: unfitted scikit-learn transformer from raw frame to
            model input; cloned.
        X_train: raw training frame; y_train: its target.
        X_valid: raw validation frame or None; y_valid: its target.
        task: ``binary``, ``multiclass`` or ``regression``.
        seed: the project seed.
        primary_metric: metric that ranks candidates (see ``scoring.METRICS``).
        classes: every class label of the dataset; a class the training split
            lacks becomes a warning.
        pos_label: positive class of a binary task (default: last sorted class).
        cv_folds: folds for the out-of-fold protocol.
        where: key path for messages.
        on_progress: progress sink.
        client: a ``distributed.Client``: LightGBM and XGBoost fit on the
            cluster (out-of-fold fits stay local).
        feature_cache: fitted features steps shared with other fits on the same
            rows (see :class:`~conveyor.train._fitting.FeatureCache`).

    Raises:
        ModelError: bad spec, metric, or a fit that failed.
        DataError: the validation split has classes the training split lacks.
    """
    get_metric(primary_metric, task=task)
    estimator = resolve_estimator(spec, task=task, seed=seed, where=where)
    name = spec.label
    report = on_progress or (lambda _label, _fraction: None)
    warnings: list[str] = []
    if task != "regression":
        check_valid_classes(y_train, y_valid, where=where)
        if classes is not None:
            absent = sorted(
                set(classes) - set(np.unique(np.asarray(y_train, dtype=object))), key=str
            )
            if absent:
                warnings.append(f"{name}: classes {absent} are absent from the training split")
    report(f"{name}: fitting", None)
    cache = feature_cache or FeatureCache(preprocessor)
    started = time.perf_counter()
    outcome = _fit(
        spec,
        estimator,
        preprocessor=preprocessor,
        X_train=X_train,
        y_train=y_train,
        X_valid=X_valid,
        y_valid=y_valid,
        task=task,
        where=where,
        on_iteration=_iteration_progress(estimator, name, report),
        client=client,
        feature_cache=cache,
        rows="holdout",
    )
    fit_seconds = time.perf_counter() - started
    if X_valid is not None:
        model = outcome.pipeline.named_steps["model"]
        y_pred, y_proba, has_proba = predict_outputs(model, outcome.eval_matrix, task=task)
        model_classes = _classes_of(outcome.pipeline, task)
        y_true = y_valid
    else:
        report(f"{name}: {cv_folds}-fold validation", None)
        y_true = y_train
        y_pred, y_proba, has_proba, model_classes = _out_of_fold(
            spec,
            preprocessor=preprocessor,
            X=X_train,
            y=y_train,
            task=task,
            seed=seed,
            k=cv_folds,
            where=where,
            feature_cache=cache,
        )
    metrics = score_all(
        task,
        y_true,
        y_pred,
        y_proba,
        has_proba=has_proba,
        classes=model_classes,
        primary_metric=primary_metric,
        pos_label=pos_label,
    )
    report(f"{name}: done", 1.0)
    return Candidate(
        name=name,
        spec=spec,
        pipeline=outcome.pipeline,
        params=dict(spec.params),
        best_iteration=outcome.best_iteration,
        curve=outcome.curve,
        fit_seconds=fit_seconds,
        validation_metrics=metrics,
        warnings=warnings,
    )


def fit_candidates(
    specs: Sequence[ModelSpec],
    *,
    preprocessor: Any,
    X_train: Any,
    y_train: Any,
    X_valid: Any,
    y_valid: Any,
    task: str,
    seed: int,
    primary_metric: str | None = None,
    classes: Sequence[Any] | None = None,
    pos_label: Any = None,
    target_name: str = "target",
    cv_folds: int = 5,
    optuna_storage: str | None = None,
    study_prefix: str = "conveyor",
    on_progress: ProgressCallback | None = None,
    client: Any = None,
) -> Leaderboard:
    """Tune (when a spec has ``tune``), fit and rank every model spec.

    All candidates share one validation protocol, so the ranking compares
    like with like. Studies are named ``f"{study_prefix}.{spec.label}"``;
    with ``optuna_storage`` a re-run with the same prefix resumes them.

    Args:
        specs: the ``models`` list of the config.
        primary_metric: ranking metric; default by task (see
            :func:`~conveyor.train.scoring.default_primary_metric`).
        target_name: the target column, for messages.
        optuna_storage: SQLAlchemy URL for Optuna's RDB storage, or None.
        study_prefix: stable prefix of study names (e.g. project and config
            fingerprint) so an interrupted run resumes its studies.
        client: a ``distributed.Client`` (``executor: dask``): trials run on
            its workers and LightGBM / XGBoost train on the cluster.
        Other arguments: as for :func:`fit_candidate`.

    Raises:
        ModelError: no specs, or any spec is invalid or fails to fit.
        DataError: the target cannot be learned (see ``check_target``).
    """
    from conveyor.train.tune import tune

    if not specs:
        raise ModelError(
            "models: no model to train; add at least one entry, e.g. models: [{estimator: lightgbm}]"
        )
    metric = primary_metric or default_primary_metric(task)
    direction = get_metric(metric, task=task, where="evaluate.primary_metric").greater_is_better
    notes = check_target(y_train, task=task, target_name=target_name)
    total = len(specs)
    # One features step per set of rows for every trial and candidate.
    cache = FeatureCache(preprocessor)
    candidates: list[Candidate] = []
    warnings: list[str] = []
    for i, spec in enumerate(specs):
        where = f"models[{i}]"

        def step_progress(label: str, fraction: float | None, _i: int = i) -> None:
            if on_progress is not None:
                on_progress(f"[{_i + 1}/{total}] {label}", fraction)

        common: dict[str, Any] = {
            "preprocessor": preprocessor,
            "X_train": X_train,
            "y_train": y_train,
            "X_valid": X_valid,
            "y_valid": y_valid,
            "task": task,
            "seed": seed,
            "primary_metric": metric,
            "pos_label": pos_label,
            "where": where,
            "on_progress": step_progress,
            "feature_cache": cache,
        }
        tuning = None
        fit_spec = spec
        if spec.tune is not None:
            tuning = tune(
                spec,
                storage=optuna_storage,
                study_name=f"{study_prefix}.{spec.label}",
                cv_folds=cv_folds,
                client=client,
                **common,
            )
            warnings.extend(tuning.warnings)
            fit_spec = spec.model_copy(update={"params": {**spec.params, **tuning.best_params}})
        candidate = fit_candidate(
            fit_spec, classes=classes, cv_folds=cv_folds, client=client, **common
        )
        candidate.spec = spec
        candidate.tuning = tuning
        candidates.append(candidate)
    candidates.sort(key=lambda c: _rank_key(c.validation_metrics.get(metric), direction))
    return Leaderboard(
        candidates=candidates,
        primary_metric=metric,
        greater_is_better=direction,
        validation="holdout" if X_valid is not None else f"cv{cv_folds}",
        warnings=notes + warnings + [w for c in candidates for w in c.warnings],
    )


# ---------------------------------------------------------------- helpers


def _rank_key(value: float | None, greater_is_better: bool) -> tuple[bool, float]:
    missing = value is None or math.isnan(value)
    if missing:
        return True, 0.0
    return False, -value if greater_is_better else value


def _fit(
    spec: ModelSpec,
    estimator: Any,
    *,
    preprocessor: Any,
    X_train: Any,
    y_train: Any,
    X_valid: Any,
    y_valid: Any,
    task: str,
    where: str,
    on_iteration: IterationCallback | None = None,
    client: Any = None,
    feature_cache: FeatureCache | None = None,
    rows: Any = "holdout",
) -> FitOutcome:
    """Apply fit-time class weights, fit, and map foreign failures to ModelError."""
    params, sample_weight = fit_time_weights(spec, estimator, y_train, task=task)
    inner_estimator(estimator).set_params(**params)
    try:
        return fit_pipeline(
            estimator,
            preprocessor=preprocessor,
            X_train=X_train,
            y_train=y_train,
            X_valid=X_valid,
            y_valid=y_valid,
            early_stopping_rounds=spec.early_stopping_rounds,
            sample_weight=sample_weight,
            on_iteration=on_iteration,
            client=client,
            feature_cache=feature_cache,
            rows=rows,
        )
    except ConveyorError:
        raise
    except Exception as exc:
        cls = type(inner_estimator(estimator)).__name__
        raise ModelError(f"{where}: fitting {cls} failed: {type(exc).__name__}: {exc}") from exc


def _out_of_fold(
    spec: ModelSpec,
    *,
    preprocessor: Any,
    X: Any,
    y: Any,
    task: str,
    seed: int,
    k: int,
    where: str,
    feature_cache: FeatureCache,
) -> tuple[np.ndarray, np.ndarray | None, bool, list[Any] | None]:
    """Out-of-fold predictions of ``spec`` over ``k`` seeded folds of ``(X, y)``."""
    y_arr = np.asarray(y)
    # np.unique sorts like the estimators' classes_, so columns line up.
    classes = None if task == "regression" else np.unique(y_arr).tolist()
    y_pred = np.empty(len(y_arr), dtype=y_arr.dtype if classes is not None else float)
    y_proba: np.ndarray | None = None
    has_proba = False
    folds = make_folds(y_arr, task=task, k=k, seed=seed, where=f"{where} validation")
    for index, (train_idx, test_idx) in enumerate(folds):
        estimator = resolve_estimator(spec, task=task, seed=seed, where=where)
        outcome = _fit(
            spec,
            estimator,
            preprocessor=preprocessor,
            X_train=X.iloc[train_idx],
            y_train=y_arr[train_idx],
            X_valid=None,
            y_valid=None,
            task=task,
            where=where,
            feature_cache=feature_cache,
            rows=fold_rows(k, seed, index),
        )
        pred, proba, has_proba = predict_outputs(outcome.pipeline, X.iloc[test_idx], task=task)
        y_pred[test_idx] = pred
        if proba is None:
            continue
        if y_proba is None:
            y_proba = np.zeros((len(y_arr), *proba.shape[1:]))
        if proba.ndim == 2 and classes is not None:
            # A fold model knows only the classes it saw: place its columns.
            fold_classes = list(_classes_of(outcome.pipeline, task) or [])
            cols = [classes.index(c) for c in fold_classes]
            y_proba[np.ix_(test_idx, cols)] = proba
        else:
            y_proba[test_idx] = proba
    return y_pred, y_proba, has_proba, classes


def _classes_of(pipeline: Any, task: str) -> list[Any] | None:
    if task == "regression":
        return None
    return list(pipeline.named_steps["model"].classes_)


def _iteration_progress(estimator: Any, name: str, report: ProgressCallback) -> IterationCallback:
    params = inner_estimator(estimator).get_params()
    total = params.get("n_estimators") or params.get("max_iter") or 100
    every = max(1, int(total) // 100)

    def on_iteration(iteration: int, value: float, _higher: bool) -> None:
        if (iteration + 1) % every == 0:
            report(
                f"{name}: iteration {iteration + 1}/{total} (valid {value:.4g})",
                min(1.0, (iteration + 1) / total),
            )

    return on_iteration
