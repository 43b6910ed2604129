from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

from conveyor.config.models import ModelSpec, SearchParam, TuneConfig
from conveyor.errors import DataError, ModelError
from conveyor.train import fit_candidate, fit_candidates

BOOSTED = {"n_estimators": 1000, "learning_rate": 0.3}


def one_thread(estimator: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Tiny fits run fastest on one thread; shared CI cores make OpenMP spin."""
    params = dict(params or {})
    if estimator in {"lightgbm", "xgboost"}:
        params.setdefault("n_jobs", 1)
    return params


def fit(split: Any, estimator: str, metric: str, **spec: Any) -> Any:
    spec["params"] = one_thread(estimator, spec.get("params"))
    return fit_candidate(
        ModelSpec(estimator=estimator, **spec), primary_metric=metric, **split.kwargs()
    )


@pytest.mark.parametrize(
    "estimator",
    [
        "logistic_regression",
        "random_forest",
        "lightgbm",
        "xgboost",
        "hist_gradient_boosting",
        "svc",
    ],
)
def test_binary_candidates(binary_split: Any, estimator: str) -> None:
    cand = fit(
        binary_split,
        estimator,
        "roc_auc",
        params={"n_estimators": 30}
        if estimator in {"random_forest", "lightgbm", "xgboost"}
        else {},
    )
    assert cand.validation_metrics["roc_auc"] > 0.75
    assert next(iter(cand.validation_metrics)) == "roc_auc"
    assert {"accuracy", "f1", "balanced_accuracy"} <= set(cand.validation_metrics)
    assert set(cand.pipeline.predict(binary_split.X_valid)) <= {"no", "yes"}
    assert list(cand.pipeline.named_steps) == ["features", "model"]
    assert cand.fit_seconds > 0
    if estimator == "svc":  # no predict_proba: ROC AUC from decision scores, no log loss
        assert "log_loss" not in cand.validation_metrics


@pytest.mark.parametrize("estimator", ["lightgbm", "xgboost", "hist_gradient_boosting", "knn"])
def test_multiclass_candidates_keep_string_labels(multiclass_split: Any, estimator: str) -> None:
    cand = fit(multiclass_split, estimator, "f1_macro")
    pred = cand.pipeline.predict(multiclass_split.X_valid)
    assert set(pred) <= {"bird", "cat", "dog"}
    assert cand.validation_metrics["f1_macro"] > 0.6
    assert 0.5 < cand.validation_metrics["roc_auc"] <= 1.0
    proba = cand.pipeline.predict_proba(multiclass_split.X_valid)
    assert proba.shape == (len(pred), 3)


@pytest.mark.parametrize("estimator", ["ridge", "lightgbm", "xgboost", "hist_gradient_boosting"])
def test_regression_candidates(regression_split: Any, estimator: str) -> None:
    cand = fit(regression_split, estimator, "rmse")
    assert cand.validation_metrics["r2"] > 0.5
    assert cand.validation_metrics["rmse"] >= cand.validation_metrics["mae"]
    if estimator != "ridge":
        assert list(cand.curve) == ["valid_rmse"]


@pytest.mark.parametrize("estimator", ["lightgbm", "xgboost"])
def test_early_stopping_keeps_best_iteration_and_curve(binary_split: Any, estimator: str) -> None:
    cand = fit(binary_split, estimator, "roc_auc", params=BOOSTED, early_stopping_rounds=10)
    curve = cand.curve["valid_logloss"]
    assert cand.best_iteration is not None
    assert cand.best_iteration < 1000
    assert len(curve) == cand.best_iteration + 10  # stops `rounds` after the best
    assert int(np.argmin(curve)) + 1 == cand.best_iteration
    # The pipeline predicts with the best iteration, not with every round fitted.
    model = cand.pipeline.named_steps["model"]
    Xt = cand.pipeline.named_steps["features"].transform(binary_split.X_valid)
    got = cand.pipeline.predict_proba(binary_split.X_valid)
    if estimator == "lightgbm":
        # LightGBM drops the rounds after the best one when it stops early.
        assert model.booster_.num_trees() == cand.best_iteration
        np.testing.assert_allclose(got, model.predict_proba(Xt, num_iteration=cand.best_iteration))
    else:
        booster = model.estimator_
        at_best = booster.predict_proba(Xt, iteration_range=(0, cand.best_iteration))
        all_rounds = booster.predict_proba(Xt, iteration_range=(0, len(curve)))
        np.testing.assert_allclose(got, at_best, rtol=1e-6)
        assert not np.allclose(got, all_rounds)


def test_hist_gradient_boosting_is_cut_to_its_best_iteration(binary_split: Any) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    params = {"max_iter": 500, "learning_rate": 0.3}
    cand = fit(
        binary_split, "hist_gradient_boosting", "roc_auc", params=params, early_stopping_rounds=10
    )
    best = cand.best_iteration
    curve = cand.curve["valid_logloss"]
    assert best is not None and best < len(curve) <= 500
    assert int(np.argmin(curve)) + 1 == best
    model = cand.pipeline.named_steps["model"]
    assert model.n_iter_ == best
    # Same as the early-stopped model's prediction at its best stage.
    features = cand.pipeline.named_steps["features"]
    reference = HistGradientBoostingClassifier(
        **params, early_stopping=True, n_iter_no_change=10, random_state=0
    ).fit(
        features.transform(binary_split.X_train),
        binary_split.y_train,
        X_val=features.transform(binary_split.X_valid),
        y_val=binary_split.y_valid,
    )
    stages = list(reference.staged_predict_proba(features.transform(binary_split.X_valid)))
    np.testing.assert_allclose(cand.pipeline.predict_proba(binary_split.X_valid), stages[best - 1])


def test_no_early_stopping_when_disabled(binary_split: Any) -> None:
    cand = fit(
        binary_split, "lightgbm", "roc_auc", params={"n_estimators": 40}, early_stopping_rounds=None
    )
    assert cand.best_iteration is None
    assert len(cand.curve["valid_logloss"]) == 40


def test_xgboost_balanced_sets_scale_pos_weight(binary_split: Any) -> None:
    cand = fit(
        binary_split, "xgboost", "roc_auc", params={"n_estimators": 20}, class_weight="balanced"
    )
    y = binary_split.y_train
    expected = (y == "no").sum() / (y == "yes").sum()
    assert cand.pipeline.named_steps["model"].estimator_.scale_pos_weight == pytest.approx(expected)
    assert cand.pipeline.named_steps["model"].estimator_.get_params()["callbacks"] is None


def test_fitted_pipeline_pickles(binary_split: Any) -> None:
    cand = fit(binary_split, "xgboost", "roc_auc", params={"n_estimators": 20})
    again = pickle.loads(pickle.dumps(cand.pipeline))
    np.testing.assert_array_equal(
        again.predict(binary_split.X_valid), cand.pipeline.predict(binary_split.X_valid)
    )


def test_progress_is_reported(binary_split: Any) -> None:
    seen: list[tuple[str, float | None]] = []
    fit_candidate(
        ModelSpec(estimator="lightgbm", params={"n_estimators": 50, "n_jobs": 1}),
        primary_metric="roc_auc",
        on_progress=lambda label, fraction: seen.append((label, fraction)),
        **binary_split.kwargs(),
    )
    assert seen[0] == ("lightgbm: fitting", None)
    assert seen[-1] == ("lightgbm: done", 1.0)
    assert any(label.startswith("lightgbm: iteration") for label, _ in seen)
    fractions = [f for label, f in seen if label.startswith("lightgbm: iteration")]
    assert fractions == sorted(fractions) and 0 < fractions[0] <= 1


def test_without_validation_split_scores_out_of_fold(binary_split: Any) -> None:
    kwargs = {**binary_split.kwargs(), "X_valid": None, "y_valid": None}
    board = fit_candidates(
        [
            ModelSpec(estimator="lightgbm", params={"n_estimators": 30, "n_jobs": 1}),
            ModelSpec(estimator="dummy"),
        ],
        cv_folds=3,
        **kwargs,
    )
    assert board.validation == "cv3"
    assert board.best.name == "lightgbm"
    assert board.best.best_iteration is None
    assert board.best.validation_metrics["roc_auc"] > 0.85
    # The prior differs a little between folds, so a dummy's AUC is near, not at, 0.5.
    assert 0.4 < board.candidates[1].validation_metrics["roc_auc"] < 0.6


def test_leaderboard_ranks_best_first(regression_split: Any) -> None:
    board = fit_candidates(
        [
            ModelSpec(estimator="dummy"),
            ModelSpec(estimator="ridge"),
            ModelSpec(name="gbm", estimator="lightgbm", params={"n_jobs": 1}),
        ],
        **regression_split.kwargs(),
    )
    assert board.primary_metric == "rmse" and not board.greater_is_better
    values = [row["rmse"] for row in board.rows]
    assert values == sorted(values)
    assert board.rows[-1]["name"] == "dummy"
    assert set(board.rows[0]) == {
        "rank",
        "name",
        "estimator",
        "rmse",
        "fit_seconds",
        "best_iteration",
        "n_trials",
    }
    gbm = next(row for row in board.rows if row["name"] == "gbm")
    assert gbm["estimator"] == "LGBMRegressor" and gbm["best_iteration"] is not None


def test_fit_candidates_tunes_then_refits(binary_split: Any) -> None:
    spec = ModelSpec(
        estimator="logistic_regression",
        tune=TuneConfig(
            n_trials=3, space={"C": SearchParam(type="float", low=0.01, high=10, log=True)}
        ),
    )
    progress: list[str] = []
    board = fit_candidates(
        [spec], on_progress=lambda label, _f: progress.append(label), **binary_split.kwargs()
    )
    cand = board.best
    assert cand.tuning is not None and cand.tuning.n_trials == 3
    assert cand.tuning.study_name == "conveyor.logistic_regression"
    assert cand.params["C"] == cand.tuning.best_params["C"]
    assert cand.tuning.best_params["C"] == cand.pipeline.named_steps["model"].C
    assert cand.spec is spec
    assert board.rows[0]["n_trials"] == 3
    assert all(label.startswith("[1/1] ") for label in progress)
    assert any("trial 3/3" in label for label in progress)


def test_churn_end_to_end(churn_split: Any) -> None:
    board = fit_candidates(
        [
            ModelSpec(
                estimator="lightgbm",
                params={"n_estimators": 300, "learning_rate": 0.05, "n_jobs": 1},
                class_weight="balanced",
            ),
            ModelSpec(estimator="logistic_regression", params={"max_iter": 500}),
            ModelSpec(estimator="dummy"),
        ],
        target_name="churn",
        **churn_split.kwargs(),
    )
    assert board.best.validation_metrics["roc_auc"] > 0.78
    assert board.candidates[-1].name == "dummy"
    assert set(board.best.pipeline.predict(churn_split.X_valid)) <= {"No", "Yes"}


# ---------------------------------------------------------------- bad input


def test_fit_failure_is_a_model_error_naming_the_model(binary_split: Any) -> None:
    # StandardScaler output is negative; MultinomialNB refuses it.
    with pytest.raises(
        ModelError, match=r"models\[0\]: fitting MultinomialNB failed: ValueError: Negative values"
    ):
        fit(binary_split, "sklearn.naive_bayes:MultinomialNB", "accuracy")


def test_no_specs(binary_split: Any) -> None:
    with pytest.raises(ModelError, match="models: no model to train"):
        fit_candidates([], **binary_split.kwargs())


def test_validation_class_absent_from_training(binary_split: Any) -> None:
    y_valid = binary_split.y_valid.copy()
    y_valid[0] = "maybe"
    kwargs = {**binary_split.kwargs(), "y_valid": y_valid}
    with pytest.raises(DataError, match="the validation split has class\\(es\\) 'maybe'"):
        fit_candidate(
            ModelSpec(estimator="logistic_regression"), primary_metric="accuracy", **kwargs
        )


def test_class_missing_from_training_is_a_warning(binary_split: Any) -> None:
    cand = fit_candidate(
        ModelSpec(estimator="logistic_regression"),
        primary_metric="accuracy",
        classes=["maybe", "no", "yes"],
        **binary_split.kwargs(),
    )
    assert cand.warnings == [
        "logistic_regression: classes ['maybe'] are absent from the training split"
    ]


def test_probability_metric_on_model_without_probabilities(binary_split: Any) -> None:
    with pytest.raises(ModelError, match="metric 'log_loss' needs predicted probabilities"):
        fit(binary_split, "ridge", "log_loss")


def test_bad_primary_metric(binary_split: Any) -> None:
    with pytest.raises(
        ModelError, match=r"evaluate\.primary_metric: metric 'rmse' does not apply to task 'binary'"
    ):
        fit_candidates(
            [ModelSpec(estimator="dummy")], primary_metric="rmse", **binary_split.kwargs()
        )


def test_target_is_checked_first(binary_split: Any) -> None:
    kwargs = {
        **binary_split.kwargs(),
        "y_train": np.array(["No"] * len(binary_split.y_train), dtype=object),
    }
    with pytest.raises(
        DataError, match="target 'churn' has a single value 'No' in the training split"
    ):
        fit_candidates([ModelSpec(estimator="dummy")], target_name="churn", **kwargs)


def test_errors_name_the_model_index(binary_split: Any) -> None:
    specs = [ModelSpec(estimator="dummy"), ModelSpec(estimator="lightgbm", params={"max_dept": 3})]
    with pytest.raises(ModelError, match=r"^models\[1\]\.params: 'max_dept' is not a parameter"):
        fit_candidates(specs, **binary_split.kwargs())


def test_multiclass_task_on_two_classes_warns(binary_split: Any) -> None:
    kwargs = {**binary_split.kwargs(), "task": "multiclass"}
    board = fit_candidates(
        [ModelSpec(estimator="logistic_regression")], target_name="churn", **kwargs
    )
    assert board.primary_metric == "f1_macro"
    assert len(board.warnings) == 1 and "only 2 classes" in board.warnings[0]
