"""Tuning and boosted-tree fitting on a real Dask cluster, against the same work done here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conveyor.config.models import ModelSpec, SearchParam, TuneConfig
from conveyor.train import fit_candidate, tune

GRID = {
    "C": SearchParam(type="categorical", choices=[0.01, 0.1, 1.0]),
    "fit_intercept": SearchParam(type="categorical", choices=[True, False]),
}
BOOSTER_SPACE = {
    "num_leaves": SearchParam(type="int", low=4, high=32),
    "learning_rate": SearchParam(type="float", low=0.03, high=0.3, log=True),
}


@pytest.fixture(scope="module")
def split() -> dict[str, Any]:
    """2,000 training and 1,000 validation rows of a binary task with string labels."""
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import make_classification
    from sklearn.preprocessing import StandardScaler

    X, y = make_classification(3000, n_features=8, n_informative=5, random_state=3)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(8)])
    labels = np.where(y == 1, "yes", "no").astype(object)
    return {
        "preprocessor": ColumnTransformer([("num", StandardScaler(), list(frame.columns))]),
        "X_train": frame.iloc[:2000].reset_index(drop=True),
        "y_train": labels[:2000],
        "X_valid": frame.iloc[2000:].reset_index(drop=True),
        "y_valid": labels[2000:],
        "task": "binary",
        "seed": 0,
    }


def _tune(split: dict[str, Any], spec: ModelSpec, storage: str | None, client: Any = None) -> Any:
    return tune(spec, primary_metric="roc_auc", storage=storage, study_name="s", client=client,
                **split)  # fmt: skip


def _stored_trials(storage: str) -> list[Any]:
    import optuna

    return optuna.load_study(study_name="s", storage=storage).get_trials(deepcopy=False)


def test_grid_search_on_dask_runs_each_point_once_and_finds_the_local_best(
    two_workers: Any, split: dict[str, Any], tmp_path: Path
) -> None:
    from distributed import get_task_stream

    spec = ModelSpec(estimator="logistic_regression",
                     tune=TuneConfig(sampler="grid", n_trials=6, pruner="none", space=GRID))  # fmt: skip
    local = _tune(split, spec, f"sqlite:///{tmp_path / 'local.db'}")
    storage = f"sqlite:///{tmp_path / 'dask.db'}"
    with get_task_stream(two_workers) as stream:
        on_dask = _tune(split, spec, storage, client=two_workers)
    batches = [t for t in stream.data if "run_batch" in t["key"]]
    assert len({t["worker"] for t in batches}) == 2  # both workers ran trials
    stored = _stored_trials(storage)
    assert len(stored) == on_dask.n_trials == 6
    assert {t.state.name for t in stored} == {"COMPLETE"}
    points = sorted((t.params["C"], t.params["fit_intercept"]) for t in stored)
    assert points == sorted((c, f) for c in (0.01, 0.1, 1.0) for f in (True, False))
    assert on_dask.best_params == local.best_params
    assert on_dask.best_value == pytest.approx(local.best_value, abs=1e-12)


def test_tpe_on_dask_shares_one_study_and_matches_local_within_tolerance(
    two_workers: Any, split: dict[str, Any], tmp_path: Path
) -> None:
    spec = ModelSpec(estimator="lightgbm", params={"n_estimators": 60},
                     tune=TuneConfig(n_trials=8, space=BOOSTER_SPACE))  # fmt: skip
    local = _tune(split, spec, f"sqlite:///{tmp_path / 'local.db'}")
    storage = f"sqlite:///{tmp_path / 'dask.db'}"
    on_dask = _tune(split, spec, storage, client=two_workers)
    stored = _stored_trials(storage)
    assert len(stored) == on_dask.n_trials == on_dask.n_new_trials == 8
    assert {t.state.name for t in stored} <= {"COMPLETE", "PRUNED"}
    assert len({tuple(sorted(t.params.items())) for t in stored}) == 8  # no repeated suggestion
    # Parallel TPE sees fewer finished trials per suggestion: a different, as good, search.
    assert abs(on_dask.best_value - local.best_value) < 0.01
    # A rerun resumes the shared study: nothing is left to run.
    again = _tune(split, spec, storage, client=two_workers)
    assert (again.n_trials, again.n_new_trials) == (8, 0)


def test_tuning_without_storage_runs_here_and_says_so(
    two_workers: Any, split: dict[str, Any]
) -> None:
    spec = ModelSpec(estimator="logistic_regression",
                     tune=TuneConfig(n_trials=2, sampler="random", space={"C": GRID["C"]}))  # fmt: skip
    result = _tune(split, spec, None, client=two_workers)
    assert result.n_trials == 2
    assert any("no Optuna storage to share" in w for w in result.warnings)


def test_lightgbm_trained_on_dask_predicts_close_to_a_local_fit(
    two_workers: Any, split: dict[str, Any]
) -> None:
    import lightgbm

    spec = ModelSpec(estimator="lightgbm", params={"n_estimators": 300, "n_jobs": 1})
    local = fit_candidate(spec, primary_metric="roc_auc", **split)
    on_dask = fit_candidate(spec, primary_metric="roc_auc", client=two_workers, **split)
    model = on_dask.pipeline.named_steps["model"]
    assert type(model) is lightgbm.LGBMClassifier  # a plain local model: bundle and ONNX as usual
    assert list(model.classes_) == ["no", "yes"]
    # Early stopping on the validation split, with LightGBM's rule, curve cut where it stopped.
    assert on_dask.best_iteration is not None and on_dask.best_iteration < 300
    curve = on_dask.curve["valid_logloss"]
    assert len(curve) == min(300, on_dask.best_iteration + 50)
    assert int(np.argmin(curve)) + 1 == on_dask.best_iteration
    # Distributed LightGBM bins each feature on one worker's rows: close, not equal.
    p_local = local.pipeline.predict_proba(split["X_valid"])[:, 1]
    p_dask = on_dask.pipeline.predict_proba(split["X_valid"])[:, 1]
    assert np.abs(p_local - p_dask).mean() < 0.05
    assert on_dask.validation_metrics["roc_auc"] == pytest.approx(
        local.validation_metrics["roc_auc"], abs=0.01
    )


def test_xgboost_trained_on_dask_equals_a_local_fit(
    two_workers: Any, split: dict[str, Any]
) -> None:
    spec = ModelSpec(estimator="xgboost", params={"n_estimators": 200, "n_jobs": 1})
    local = fit_candidate(spec, primary_metric="roc_auc", **split)
    on_dask = fit_candidate(spec, primary_metric="roc_auc", client=two_workers, **split)
    assert on_dask.best_iteration == local.best_iteration
    assert list(on_dask.pipeline.predict(split["X_valid"])) == list(
        local.pipeline.predict(split["X_valid"])
    )
    p_local = local.pipeline.predict_proba(split["X_valid"])
    p_dask = on_dask.pipeline.predict_proba(split["X_valid"])
    assert np.abs(p_local - p_dask).max() < 1e-5


@pytest.mark.parametrize("estimator", ["lightgbm", "xgboost"])
def test_sparse_features_train_on_dask(
    two_workers: Any, split: dict[str, Any], estimator: str
) -> None:
    import scipy.sparse
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder

    def frame(X: pd.DataFrame) -> pd.DataFrame:
        return X.assign(band=pd.cut(X["x0"], 12, labels=False).astype(str))

    sparse = ColumnTransformer(
        [("band", OneHotEncoder(handle_unknown="ignore"), ["band"]),
         ("num", "passthrough", [f"x{i}" for i in range(1, 8)])],
        sparse_threshold=1.0,
    )  # fmt: skip
    data = {**split, "preprocessor": sparse,
            "X_train": frame(split["X_train"]), "X_valid": frame(split["X_valid"])}  # fmt: skip
    spec = ModelSpec(estimator=estimator, params={"n_estimators": 50, "n_jobs": 1})
    on_dask = fit_candidate(spec, primary_metric="roc_auc", client=two_workers, **data)
    features = on_dask.pipeline.named_steps["features"]
    assert scipy.sparse.issparse(features.transform(data["X_valid"]))
    assert on_dask.validation_metrics["roc_auc"] > 0.85


@pytest.mark.parametrize(
    ("task", "params"),
    [("binary", {}), ("multiclass", {}), ("regression", {}), ("binary", {"metric": "auc"})],
)
def test_lightgbm_validation_curve_and_stopping_rule_match_lightgbm(
    task: str, params: dict[str, Any]
) -> None:
    """The curve and early-stopping rule used after a Dask fit, checked on a local booster:
    the same best iteration as LightGBM's own early stopping, the same curve values."""
    import lightgbm as lgb
    from sklearn.datasets import make_classification, make_regression

    from conveyor.train._dask_fit import _early_stop, _lightgbm_curve, _lightgbm_metric

    if task == "regression":
        X, y = make_regression(1500, n_features=6, noise=20, random_state=0)
        model = lgb.LGBMRegressor(n_estimators=200, verbose=-1, n_jobs=1, **params)
    else:
        X, y = make_classification(1500, n_features=6, n_informative=4, random_state=0,
                                   n_classes=3 if task == "multiclass" else 2)  # fmt: skip
        model = lgb.LGBMClassifier(
            n_estimators=200, verbose=-1, n_jobs=1, learning_rate=0.3, **params
        )
    Xt, yt, Xv, yv = X[:1000], y[:1000], X[1000:], y[1000:]
    full = model.fit(Xt, yt)
    metric = _lightgbm_metric(full)
    values = _lightgbm_curve(full, Xv, yv, metric, task != "regression")
    best, _ = _early_stop(values, 10, higher_is_better=metric == "auc")
    record: dict[str, Any] = {}
    stopped = type(model)(**model.get_params()).fit(
        Xt, yt, eval_X=(Xv,), eval_y=(yv,),
        callbacks=[lgb.early_stopping(10, first_metric_only=True, verbose=False),
                   lgb.record_evaluation(record)],
    )  # fmt: skip
    assert best == stopped.best_iteration_
    [(_, lightgbm_values)] = record["valid_0"].items()
    assert values[: len(lightgbm_values)] == pytest.approx(lightgbm_values, rel=1e-6, abs=1e-9)
