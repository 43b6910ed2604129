"""Hyperparameter tuning with Optuna.

The search space comes from ``models[i].tune.space``. Trials are scored on
the validation split or, with ``tune.cv: k``, on k folds of the training
split. Boosters report their per-iteration validation loss so the median
pruner can stop hopeless trials early; in CV mode the running mean over
folds is reported instead. With a storage URL the study lives in an Optuna
RDB storage and resumes after an interruption: a re-run only runs the
trials still missing from ``n_trials``.

Example:
    >>> result = tune(spec, preprocessor=pre, X_train=X, y_train=y, X_valid=Xv, y_valid=yv,
    ...               task="binary", seed=42, primary_metric="roc_auc",
    ...               storage="sqlite:///optuna.db", study_name="churn.lightgbm")  # doctest: +SKIP
    >>> result.best_params  # doctest: +SKIP
    {'learning_rate': 0.08, 'num_leaves': 31}
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conveyor.config.models import ModelSpec, SearchParam, TuneConfig
from conveyor.errors import ModelError
from conveyor.train._feature_cache import FeatureCache
from conveyor.train._fitting import IterationCallback, fit_pipeline
from conveyor.train._space import check_space, grid_values, suggest_params
from conveyor.train._study import (
    best_value_or_none,
    count_finished,
    mirror_study,
    open_study,
    trial_row,
)
from conveyor.train._validation import (
    check_valid_classes,
    fold_rows,
    make_folds,
    predict_outputs,
)
from conveyor.train.estimators import (
    check_param_names,
    estimator_family,
    fit_time_weights,
    inner_estimator,
    param_key,
    resolve_estimator,
)
from conveyor.train.scoring import get_metric, score_predictions

__all__ = ["TuneResult", "tune"]

_REPORTS_PER_TRIAL = 20  # each report is a database write on RDB storage: keep them few
_ITERATION_REPORTERS = frozenset({"lightgbm", "xgboost"})


@dataclass
class TuneResult:
    """What a study found.

    Attributes:
        best_params: the best trial's values of the search-space parameters
            (names as in the config).
        best_value: its primary metric value.
        n_trials: trials in the study, across resumed runs, in any state.
        trials: one dict per trial: number, value, params, state
            (COMPLETE / PRUNED / FAIL / RUNNING), duration_s, and when known
            best_iteration and error.
        study_name: the Optuna study name.
        metric: the primary metric optimised.
        direction: ``maximize`` or ``minimize``.
        n_new_trials: trials run by this call (fewer than ``n_trials`` on resume).
        protocol: ``holdout`` or ``cv<k>``.
    """

    best_params: dict[str, Any]
    best_value: float
    n_trials: int
    trials: list[dict[str, Any]]
    study_name: str
    metric: str = ""
    direction: str = "maximize"
    n_new_trials: int = 0
    protocol: str = "holdout"
    best_iteration: int | None = None
    elapsed_s: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def n_pruned(self) -> int:
        return sum(t["state"] == "PRUNED" for t in self.trials)

    @property
    def n_failed(self) -> int:
        return sum(t["state"] == "FAIL" for t in self.trials)


def tune(
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
    storage: str | None = None,
    study_name: str,
    pos_label: Any = None,
    cv_folds: int = 5,
    where: str = "models[0]",
    on_progress: Callable[[str, float | None], None] | None = None,
    client: Any = None,
    feature_cache: FeatureCache | None = None,
) -> TuneResult:
    """Search ``spec.tune.space`` for the parameters that maximise the primary metric.

    Args:
        spec: a model spec with ``tune`` set (``TuneConfig()`` defaults otherwise).
        preprocessor: unfitted transformer, cloned per fit.
        X_train, y_train: training split (raw frame, target).
        X_valid, y_valid: validation split; when None and ``tune.cv`` is unset,
            trials use ``cv_folds`` folds of the training split.
        task: ``binary``, ``multiclass`` or ``regression``.
        seed: seeds the sampler and the folds.
        primary_metric: what the study optimises.
        storage: SQLAlchemy URL of the Optuna storage (SQLite or PostgreSQL);
            None keeps the study in memory.
        study_name: resumed when it exists in ``storage``.
        pos_label: positive class of a binary task.
        cv_folds: folds when no validation split exists.
        where: key path for messages.
        on_progress: progress sink; called from worker threads when
            ``tune.n_jobs`` > 1.
        client: a ``distributed.Client``: trials then run in batches on the
            cluster's workers, sharing the study through ``storage`` (see
            :mod:`conveyor.train._dask_tune`); ``tune.n_jobs`` is then unused.
            Without a storage the trials run here (a warning says so).
        feature_cache: fitted features steps to share with other fits on the same
            rows (default: one for this study). Trials fit the features once per set
            of rows (the holdout, each fold) since only the estimator changes.

    Raises:
        ModelError: bad search space (unknown parameter, float grid without
            step, …), a study that exists with the other direction, or no
            trial completed (timeout, every trial pruned or failed).
        StoreError: the storage cannot be opened.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cfg = spec.tune or TuneConfig()
    at = f"{where}.tune"
    if cfg.n_trials is None and cfg.timeout_s is None:
        raise ModelError(f"{at}: set n_trials or timeout_s, or the search never ends")
    check_space(cfg.space, where=f"{at}.space")
    probe = resolve_estimator(spec, task=task, seed=seed, where=where)
    check_param_names(probe, [param_key(n) for n in cfg.space], where=f"{at}.space")
    metric = get_metric(primary_metric, task=task, where="evaluate.primary_metric")
    direction = "maximize" if metric.greater_is_better else "minimize"
    grid = grid_values(cfg.space, where=f"{at}.space") if cfg.sampler == "grid" else None
    if task != "regression":
        check_valid_classes(y_train, y_valid, where=where)
    folds_k = cfg.cv or (None if X_valid is not None else cv_folds)
    folds = (
        make_folds(y_train, task=task, k=folds_k, seed=seed, where=f"{at}.cv") if folds_k else None
    )

    study = open_study(
        cfg,
        grid=grid,
        seed=seed,
        storage=storage,
        study_name=study_name,
        direction=direction,
        pruning=cfg.pruner == "median",
        cv=folds is not None,
        where=at,
    )
    warnings: list[str] = []
    if client is not None and not storage:
        warnings.append(f"{at}: no Optuna storage to share, so the trials ran here, not on Dask")
        client = None
    write_back: list[Any] = []
    if storage and client is None:
        # Nobody else shares the study: run it in memory, store each trial as it ends.
        study, store_trial = mirror_study(study)
        write_back.append(store_trial)
    done = count_finished(study)
    trials_before = len(study.get_trials(deepcopy=False))
    remaining = None if cfg.n_trials is None else cfg.n_trials - done
    if grid is not None:
        grid_size = math.prod(len(v) for v in grid.values())
        remaining = grid_size - done if remaining is None else min(remaining, grid_size - done)
    report = on_progress or (lambda _label, _fraction: None)
    family = estimator_family(probe)
    fixed = dict(spec.params)
    if (
        (cfg.n_jobs > 1 or client is not None)
        and family in _ITERATION_REPORTERS
        and ("n_jobs" not in fixed)
    ):
        # Trials already run in parallel threads; a booster using every core
        # in each of them oversubscribes the machine.
        fixed["n_jobs"] = 1

    started = time.perf_counter()
    objective = _Objective(
        spec=spec.model_copy(update={"params": fixed}),
        space=cfg.space,
        preprocessor=preprocessor,
        feature_cache=feature_cache or FeatureCache(preprocessor),
        X_train=X_train,
        y_train=np.asarray(y_train),
        X_valid=X_valid,
        y_valid=None if y_valid is None else np.asarray(y_valid),
        folds=folds,
        task=task,
        seed=seed,
        metric=primary_metric,
        maximize=direction == "maximize",
        pos_label=pos_label,
        where=where,
        prune_iterations=cfg.pruner == "median" and family in _ITERATION_REPORTERS,
        deadline=None if cfg.timeout_s is None else time.monotonic() + cfg.timeout_s,
    )

    def progress(study: Any, _trial: Any) -> None:
        finished = count_finished(study) - done
        best = best_value_or_none(study)
        shown = f", best {primary_metric} {best:.4g}" if best is not None else ""
        report(
            f"{spec.label}: trial {finished}/{remaining if remaining is not None else '?'}{shown}",
            min(1.0, finished / remaining) if remaining else None,
        )

    if (remaining is None or remaining > 0) and client is not None:
        from conveyor.train._dask_tune import StudySpec, run_trials_on_dask

        report(f"{spec.label}: tuning on Dask ({cfg.sampler}, {direction} {primary_metric})", 0.0)
        shared = StudySpec(cfg, grid, seed, str(storage), study_name, direction,
                           cfg.pruner == "median", folds is not None, at)  # fmt: skip
        run_trials_on_dask(
            client, objective, study, shared, remaining=remaining,
            on_trial=lambda: progress(study, None),
        )  # fmt: skip
    elif remaining is None or remaining > 0:
        report(f"{spec.label}: tuning ({cfg.sampler}, {direction} {primary_metric})", 0.0)
        study.optimize(
            objective,
            n_trials=remaining,
            timeout=cfg.timeout_s,
            n_jobs=cfg.n_jobs,
            catch=(Exception,),
            callbacks=[*write_back, progress],
        )
    result = _result(
        study,
        cfg=cfg,
        metric=primary_metric,
        direction=direction,
        trials_before=trials_before,
        protocol=f"cv{len(folds)}" if folds is not None else "holdout",
        elapsed=time.perf_counter() - started,
        where=at,
    )
    result.warnings.extend(warnings)
    return result


@dataclass
class _Objective:
    """One trial: suggest parameters, fit on the holdout or every fold, return the metric."""

    spec: ModelSpec
    space: dict[str, SearchParam]
    preprocessor: Any
    feature_cache: FeatureCache
    X_train: Any
    y_train: np.ndarray
    X_valid: Any
    y_valid: np.ndarray | None
    folds: list[tuple[np.ndarray, np.ndarray]] | None
    task: str
    seed: int
    metric: str
    maximize: bool
    pos_label: Any
    where: str
    prune_iterations: bool
    deadline: float | None

    def __call__(self, trial: Any) -> float:
        import optuna

        try:
            params = {**self.spec.params, **suggest_params(trial, self.space)}
            spec = self.spec.model_copy(update={"params": params})
            if self.folds is not None:
                return self._cross_validate(trial, spec, self.folds)
            value, best_iteration = self._fit_and_score(
                trial, spec, self.X_train, self.y_train, self.X_valid, self.y_valid,
                rows="holdout", report=True,
            )  # fmt: skip
            if best_iteration is not None:
                trial.set_user_attr("best_iteration", best_iteration)
            return value
        except optuna.TrialPruned:
            raise
        except Exception as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
            raise

    def _cross_validate(self, trial: Any, spec: ModelSpec, folds: list[Any]) -> float:
        import optuna

        values: list[float] = []
        iterations: list[int] = []
        for step, (train_idx, test_idx) in enumerate(folds):
            self._check_deadline(trial)
            value, best_iteration = self._fit_and_score(
                trial,
                spec,
                self.X_train.iloc[train_idx],
                self.y_train[train_idx],
                self.X_train.iloc[test_idx],
                self.y_train[test_idx],
                rows=fold_rows(len(folds), self.seed, step),
                report=False,
            )
            values.append(value)
            if best_iteration is not None:
                iterations.append(best_iteration)
            # Fold-wise running mean: the pruner compares trials fold by fold.
            trial.report(float(np.mean(values)), step=step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {step + 1}")
        trial.set_user_attr("fold_values", values)
        if iterations:
            trial.set_user_attr("best_iteration", round(float(np.mean(iterations))))
        return float(np.mean(values))

    def _fit_and_score(
        self,
        trial: Any,
        spec: ModelSpec,
        X_fit: Any,
        y_fit: np.ndarray,
        X_eval: Any,
        y_eval: Any,
        *,
        rows: Any,
        report: bool,
    ) -> tuple[float, int | None]:
        estimator = resolve_estimator(spec, task=self.task, seed=self.seed, where=self.where)
        params, weights = fit_time_weights(spec, estimator, y_fit, task=self.task)
        inner_estimator(estimator).set_params(**params)
        outcome = fit_pipeline(
            estimator,
            preprocessor=self.preprocessor,
            X_train=X_fit,
            y_train=y_fit,
            X_valid=X_eval,
            y_valid=y_eval,
            early_stopping_rounds=spec.early_stopping_rounds,
            sample_weight=weights,
            on_iteration=self._iteration_guard(
                trial, estimator, prune=report and self.prune_iterations
            ),
            feature_cache=self.feature_cache,
            rows=rows,
        )
        model = outcome.pipeline.named_steps["model"]
        y_pred, y_proba, has_proba = predict_outputs(model, outcome.eval_matrix, task=self.task)
        classes = None if self.task == "regression" else list(model.classes_)
        if get_metric(self.metric).needs == "proba" and not has_proba:
            y_proba = None
        value = score_predictions(
            self.task,
            y_eval,
            y_pred,
            y_proba,
            metric=self.metric,
            classes=classes,
            pos_label=self.pos_label,
        )
        return value, outcome.best_iteration

    def _iteration_guard(
        self, trial: Any, estimator: Any, *, prune: bool
    ) -> IterationCallback | None:
        """Per-iteration hook: report to the pruner, and stop a fit that outlives the timeout."""
        import optuna

        if not prune and self.deadline is None:
            return None
        total = int(inner_estimator(estimator).get_params().get("n_estimators") or 100)
        every = max(1, total // _REPORTS_PER_TRIAL)

        def on_iteration(iteration: int, value: float, higher_is_better: bool) -> None:
            self._check_deadline(trial)
            if not prune or (iteration + 1) % every:
                return
            # The curve is usually a loss while the study may maximise (ROC AUC):
            # flip it so "better" points the same way for the pruner.
            trial.report(value if higher_is_better == self.maximize else -value, step=iteration)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at iteration {iteration + 1}")

        return on_iteration

    def _check_deadline(self, trial: Any) -> None:
        import optuna

        if self.deadline is not None and time.monotonic() > self.deadline:
            trial.set_user_attr("stopped", "timeout")
            raise optuna.TrialPruned("stopped at tune.timeout_s")


def _result(
    study: Any,
    *,
    cfg: TuneConfig,
    metric: str,
    direction: str,
    trials_before: int,
    protocol: str,
    elapsed: float,
    where: str,
) -> TuneResult:
    trials = [trial_row(t) for t in study.get_trials(deepcopy=False)]
    complete = [t for t in trials if t["state"] == "COMPLETE"]
    if not complete:
        failed = [t for t in trials if t["state"] == "FAIL"]
        pruned = sum(t["state"] == "PRUNED" for t in trials)
        if failed and failed[0].get("error"):
            raise ModelError(
                f"{where}: every trial failed ({len(failed)} failed, {pruned} pruned); "
                f"first error: {failed[0]['error']}"
            )
        if cfg.timeout_s is not None:
            raise ModelError(
                f"{where}: no trial completed within timeout_s={cfg.timeout_s:g} "
                f"({len(trials)} started, {pruned} pruned)",
                hint="raise tune.timeout_s or make a trial cheaper (fewer n_estimators, less data)",
            )
        raise ModelError(f"{where}: no trial completed ({len(trials)} started, {pruned} pruned)")
    best = study.best_trial
    return TuneResult(
        best_params=dict(best.params),
        best_value=float(best.value),
        n_trials=len(trials),
        trials=trials,
        study_name=study.study_name,
        metric=metric,
        direction=direction,
        n_new_trials=len(trials) - trials_before,
        protocol=protocol,
        best_iteration=best.user_attrs.get("best_iteration"),
        elapsed_s=elapsed,
    )
