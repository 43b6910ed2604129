from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conveyor.config.models import ModelSpec, SearchParam, TuneConfig
from conveyor.errors import ModelError, StoreError
from conveyor.train import tune

LOG_C = {"C": SearchParam(type="float", low=0.01, high=10.0, log=True)}


def run(
    split: Any,
    estimator: str,
    metric: str = "roc_auc",
    *,
    params: dict | None = None,
    study_name: str = "s",
    storage: str | None = None,
    **tune_cfg: Any,
) -> Any:
    if estimator in {"lightgbm", "xgboost"} and tune_cfg.get("n_jobs", 1) == 1:
        # Tiny fits run fastest on one thread; shared CI cores make OpenMP spin.
        params = {"n_jobs": 1, **(params or {})}
    spec = ModelSpec(estimator=estimator, params=params or {}, tune=TuneConfig(**tune_cfg))
    return tune(
        spec, primary_metric=metric, storage=storage, study_name=study_name, **split.kwargs()
    )


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_tpe_and_random_samplers(binary_split: Any, sampler: str) -> None:
    space = {**LOG_C, "fit_intercept": SearchParam(type="categorical", choices=[True, False])}
    result = run(binary_split, "logistic_regression", n_trials=4, sampler=sampler, space=space)
    assert result.n_trials == 4 and result.n_new_trials == 4
    assert result.direction == "maximize" and result.metric == "roc_auc"
    assert set(result.best_params) == {"C", "fit_intercept"}
    assert 0.01 <= result.best_params["C"] <= 10
    assert result.best_value == max(t["value"] for t in result.trials)
    assert {t["state"] for t in result.trials} == {"COMPLETE"}
    assert all(t["duration_s"] is not None for t in result.trials)


def test_samplers_are_seeded(binary_split: Any) -> None:
    a = run(binary_split, "logistic_regression", n_trials=3, sampler="random", space=LOG_C)
    b = run(binary_split, "logistic_regression", n_trials=3, sampler="random", space=LOG_C)
    assert [t["params"] for t in a.trials] == [t["params"] for t in b.trials]


def test_grid_sampler_covers_the_grid_once(regression_split: Any) -> None:
    space = {
        "alpha": SearchParam(type="float", low=0.5, high=1.5, step=0.5),
        "fit_intercept": SearchParam(type="categorical", choices=[True, False]),
    }
    result = run(regression_split, "ridge", "rmse", n_trials=50, sampler="grid", space=space)
    seen = sorted((t["params"]["alpha"], t["params"]["fit_intercept"]) for t in result.trials)
    assert seen == sorted((a, f) for a in (0.5, 1.0, 1.5) for f in (True, False))
    assert result.direction == "minimize"
    assert result.best_value == min(t["value"] for t in result.trials)


def test_grid_int_range_with_step(regression_split: Any) -> None:
    space = {"n_neighbors": SearchParam(type="int", low=3, high=9, step=3)}
    result = run(regression_split, "knn", "rmse", sampler="grid", space=space)
    assert sorted(t["params"]["n_neighbors"] for t in result.trials) == [3, 6, 9]


def test_grid_float_without_step_is_rejected(binary_split: Any) -> None:
    with pytest.raises(ModelError) as err:
        run(binary_split, "logistic_regression", sampler="grid", space=LOG_C)
    assert err.value.message == (
        "models[0].tune.space.C: the grid sampler needs 'step' for a float parameter "
        "(or list the values as a categorical 'choices')"
    )


def test_pruning_stops_bad_boosters(binary_split: Any) -> None:
    space = {"learning_rate": SearchParam(type="float", low=1e-4, high=0.5, log=True)}
    result = run(
        binary_split,
        "lightgbm",
        params={"n_estimators": 150, "num_leaves": 8},
        n_trials=10,
        sampler="random",
        space=space,
    )
    pruned = [t for t in result.trials if t["state"] == "PRUNED"]
    assert pruned, "median pruning should stop some trials with a tiny learning rate"
    assert all(t["value"] is None and t["pruned_at_step"] < 149 for t in pruned)
    slowest_pruned = min(t["params"]["learning_rate"] for t in pruned)
    assert slowest_pruned < result.best_params["learning_rate"]


def test_no_pruner_prunes_nothing(binary_split: Any) -> None:
    space = {"learning_rate": SearchParam(type="float", low=1e-4, high=0.5, log=True)}
    result = run(
        binary_split,
        "xgboost",
        params={"n_estimators": 60},
        n_trials=5,
        sampler="random",
        pruner="none",
        space=space,
    )
    assert {t["state"] for t in result.trials} == {"COMPLETE"}
    assert all("best_iteration" in t for t in result.trials)


def test_xgboost_trials_report_for_pruning(binary_split: Any) -> None:
    space = {"learning_rate": SearchParam(type="float", low=1e-4, high=0.5, log=True)}
    result = run(
        binary_split,
        "xgboost",
        params={"n_estimators": 200, "max_depth": 3},
        n_trials=10,
        sampler="random",
        space=space,
    )
    assert result.n_pruned > 0


def test_resume_runs_only_the_missing_trials(binary_split: Any, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    first = run(
        binary_split,
        "logistic_regression",
        storage=storage,
        study_name="churn.lr",
        n_trials=3,
        sampler="random",
        space=LOG_C,
    )
    assert first.n_trials == 3 and first.n_new_trials == 3
    again = run(
        binary_split,
        "logistic_regression",
        storage=storage,
        study_name="churn.lr",
        n_trials=5,
        sampler="random",
        space=LOG_C,
    )
    assert again.n_trials == 5 and again.n_new_trials == 2
    assert [t["number"] for t in again.trials] == [0, 1, 2, 3, 4]
    # The resumed sampler does not replay the first run's suggestions.
    first_cs = {t["params"]["C"] for t in first.trials}
    assert not first_cs & {t["params"]["C"] for t in again.trials[3:]}
    done = run(
        binary_split,
        "logistic_regression",
        storage=storage,
        study_name="churn.lr",
        n_trials=5,
        sampler="random",
        space=LOG_C,
    )
    assert done.n_new_trials == 0 and done.best_params == again.best_params


def test_existing_study_with_other_direction(binary_split: Any, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    run(binary_split, "logistic_regression", storage=storage, n_trials=1, space=LOG_C)
    with pytest.raises(
        ModelError,
        match="study 's' exists and is set to maximize, but the primary metric needs minimize",
    ):
        run(
            binary_split,
            "logistic_regression",
            "log_loss",
            storage=storage,
            n_trials=1,
            space=LOG_C,
        )


def test_parallel_trials_with_sqlite(binary_split: Any, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    result = run(
        binary_split,
        "logistic_regression",
        storage=storage,
        n_trials=6,
        n_jobs=2,
        sampler="random",
        space=LOG_C,
    )
    assert result.n_trials == 6
    assert {t["state"] for t in result.trials} == {"COMPLETE"}


def test_cross_validation_reports_each_fold(multiclass_split: Any) -> None:
    import optuna

    result = run(
        multiclass_split,
        "logistic_regression",
        "f1_macro",
        n_trials=3,
        cv=3,
        sampler="random",
        pruner="none",
        space=LOG_C,
    )
    assert result.protocol == "cv3"
    assert all(len(t["fold_values"]) == 3 for t in result.trials)
    best = max(result.trials, key=lambda t: t["value"])
    assert best["value"] == pytest.approx(sum(best["fold_values"]) / 3)
    assert optuna.logging.get_verbosity() == optuna.logging.WARNING


def test_cross_validation_with_boosters_records_best_iteration(regression_split: Any) -> None:
    space = {"num_leaves": SearchParam(type="int", low=4, high=16)}
    result = run(
        regression_split,
        "lightgbm",
        "rmse",
        params={"n_estimators": 200, "learning_rate": 0.3},
        n_trials=2,
        cv=3,
        space=space,
    )
    assert all(isinstance(t["best_iteration"], int) for t in result.trials)


def test_without_validation_split_uses_folds(binary_split: Any) -> None:
    kwargs = {**binary_split.kwargs(), "X_valid": None, "y_valid": None}
    spec = ModelSpec(estimator="logistic_regression", tune=TuneConfig(n_trials=2, space=LOG_C))
    result = tune(spec, primary_metric="roc_auc", study_name="s", cv_folds=4, **kwargs)
    assert result.protocol == "cv4"


def test_progress_reports_trials(binary_split: Any) -> None:
    seen: list[tuple[str, float | None]] = []
    spec = ModelSpec(estimator="logistic_regression", tune=TuneConfig(n_trials=2, space=LOG_C))
    tune(
        spec,
        primary_metric="roc_auc",
        study_name="s",
        on_progress=lambda label, fraction: seen.append((label, fraction)),
        **binary_split.kwargs(),
    )
    assert seen[0] == ("logistic_regression: tuning (tpe, maximize roc_auc)", 0.0)
    assert seen[-1][0].startswith("logistic_regression: trial 2/2, best roc_auc ")
    assert seen[-1][1] == 1.0


# ---------------------------------------------------------------- bad input


def test_unknown_search_parameter_suggests(binary_split: Any) -> None:
    space = {"max_dept": SearchParam(type="int", low=2, high=6)}
    with pytest.raises(ModelError) as err:
        run(binary_split, "lightgbm", space=space)
    assert err.value.message == (
        "models[0].tune.space: 'max_dept' is not a parameter of LGBMClassifier (did you mean 'max_depth'?)"
    )


def test_timeout_with_no_completed_trial(binary_split: Any) -> None:
    space = {"num_leaves": SearchParam(type="int", low=4, high=8)}
    with pytest.raises(
        ModelError, match=r"models\[0\]\.tune: no trial completed within timeout_s=0\.2"
    ) as err:
        run(
            binary_split,
            "lightgbm",
            params={"n_estimators": 1_000_000, "learning_rate": 1e-6},
            n_trials=None,
            timeout_s=0.2,
            pruner="none",
            space=space,
        )
    assert "raise tune.timeout_s" in (err.value.hint or "")


def test_every_trial_failing_reports_the_first_error(binary_split: Any) -> None:
    # Scaled features are negative; MultinomialNB refuses them in every trial.
    space = {"alpha": SearchParam(type="float", low=0.1, high=1.0)}
    with pytest.raises(
        ModelError,
        match=r"every trial failed \(2 failed, 0 pruned\); first error: ValueError: Negative values",
    ):
        run(binary_split, "sklearn.naive_bayes:MultinomialNB", "accuracy", n_trials=2, space=space)


def test_some_failing_trials_do_not_stop_the_study(binary_split: Any) -> None:
    space = {"max_iter": SearchParam(type="categorical", choices=[-1, 100])}
    result = run(binary_split, "logistic_regression", n_trials=2, sampler="grid", space=space)
    states = {t["params"]["max_iter"]: t["state"] for t in result.trials}
    assert states == {-1: "FAIL", 100: "COMPLETE"}
    assert "max_iter" in next(t["error"] for t in result.trials if t["state"] == "FAIL")
    assert result.n_failed == 1


@pytest.mark.parametrize(
    ("space", "tune_cfg", "expected"),
    [
        ({}, {}, "models[0].tune.space: the search space is empty"),
        (
            {"C": SearchParam(type="float", low=0.1, high=1, log=True, step=0.1)},
            {},
            "'log' and 'step' cannot be combined",
        ),
        (
            {"max_iter": SearchParam(type="int", low=1.5, high=4)},
            {},
            "an int parameter needs whole-number low/high/step",
        ),
        (LOG_C, {"n_trials": None}, "models[0].tune: set n_trials or timeout_s"),
        (
            {"C": SearchParam(type="categorical", choices=[[1, 2]])},
            {},
            "choices must be numbers, text, booleans or null",
        ),
    ],
)
def test_bad_search_spaces(binary_split: Any, space: dict, tune_cfg: dict, expected: str) -> None:
    with pytest.raises(
        ModelError, match=expected.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")
    ):
        run(binary_split, "logistic_regression", space=space, **tune_cfg)


def test_low_above_high_is_rejected_by_the_config_model() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"'low' \(2\) is greater than 'high' \(1\)"):
        SearchParam(type="float", low=2, high=1)


def test_too_few_rows_per_class_for_folds(binary_split: Any) -> None:
    from conveyor.errors import DataError

    y = binary_split.y_train.copy()
    y[:] = "no"
    y[:2] = "yes"
    kwargs = {**binary_split.kwargs(), "y_train": y}
    spec = ModelSpec(
        estimator="logistic_regression", tune=TuneConfig(n_trials=1, cv=3, space=LOG_C)
    )
    with pytest.raises(
        DataError, match="3 folds need at least 3 rows of every class; class 'yes' has 2"
    ):
        tune(spec, primary_metric="roc_auc", study_name="s", **kwargs)


def test_unopenable_storage_is_a_store_error(binary_split: Any, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'missing-dir' / 'optuna.db'}"
    with pytest.raises(StoreError, match="cannot open the Optuna storage at sqlite:///"):
        run(binary_split, "logistic_regression", storage=storage, n_trials=1, space=LOG_C)


@pytest.mark.postgres
def test_resume_on_postgres(binary_split: Any, postgres_url: str) -> None:
    first = run(
        binary_split,
        "logistic_regression",
        storage=postgres_url,
        study_name="pg.lr",
        n_trials=2,
        sampler="random",
        space=LOG_C,
    )
    again = run(
        binary_split,
        "logistic_regression",
        storage=postgres_url,
        study_name="pg.lr",
        n_trials=3,
        sampler="random",
        space=LOG_C,
    )
    assert first.n_trials == 2 and again.n_trials == 3 and again.n_new_trials == 1


def test_parallel_trials_run_boosters_single_threaded(binary_split: Any) -> None:
    space = {"num_leaves": SearchParam(type="int", low=4, high=16)}
    result = run(
        binary_split, "lightgbm", params={"n_estimators": 20}, n_trials=4, n_jobs=2, space=space
    )
    assert result.n_trials == 4
    assert "n_jobs" not in result.best_params  # a runtime setting, not a tuned one


def _stored_trials(storage: str, study_name: str) -> list[Any]:
    import optuna

    return optuna.load_study(study_name=study_name, storage=storage).get_trials(deepcopy=False)


def test_every_finished_trial_is_stored_as_it_ran(binary_split: Any, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    result = run(
        binary_split,
        "lightgbm",
        storage=storage,
        study_name="lgbm",
        params={"n_estimators": 60, "verbose": -1},
        n_trials=6,
        sampler="random",
        space={"num_leaves": SearchParam(type="int", low=2, high=64)},
    )
    stored = _stored_trials(storage, "lgbm")
    assert [t.number for t in stored] == [t["number"] for t in result.trials]
    assert [t.state.name for t in stored] == [t["state"] for t in result.trials]
    assert [t.params for t in stored] == [t["params"] for t in result.trials]
    complete = [t for t in stored if t.state.name == "COMPLETE"]
    assert complete and all(t.intermediate_values for t in complete)
    assert all("best_iteration" in t.user_attrs for t in complete)


def test_an_interrupted_trial_is_not_stored_and_the_study_resumes(
    binary_split: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    tune_module = importlib.import_module("conveyor.train.tune")
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    calls = {"n": 0}
    objective = tune_module._Objective.__call__

    def stop_on_the_third(self: Any, trial: Any) -> float:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return objective(self, trial)

    monkeypatch.setattr(tune_module._Objective, "__call__", stop_on_the_third)
    kwargs = {"storage": storage, "study_name": "lr", "sampler": "random", "space": LOG_C}
    with pytest.raises(KeyboardInterrupt):
        run(binary_split, "logistic_regression", n_trials=5, **kwargs)
    assert [t.state.name for t in _stored_trials(storage, "lr")] == ["COMPLETE", "COMPLETE"]
    monkeypatch.setattr(tune_module._Objective, "__call__", objective)
    again = run(binary_split, "logistic_regression", n_trials=5, **kwargs)
    assert again.n_trials == 5 and again.n_new_trials == 3
    assert len(_stored_trials(storage, "lr")) == 5
