from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conveyor.config.models import EvaluateConfig
from conveyor.errors import ConfigError, ModelError
from conveyor.evaluate import Evaluation, check_evaluate_config, evaluate_model


def _evaluate(split, config: EvaluateConfig, **kwargs) -> Evaluation:
    args = dict(
        task="binary", X_train=split.X_train, y_train=split.y_train, X_test=split.X_test,
        y_test=split.y_test, config=config, classes=list(split.pipeline.classes_),
        positive_class="yes", seed=0, primary_metric=None, model_name="logreg",
    )  # fmt: skip
    args.update(kwargs)
    return evaluate_model(split.pipeline, **args)


def test_binary_evaluation_end_to_end(binary_split) -> None:
    s = binary_split
    config = EvaluateConfig(
        gates={"roc_auc": ">= 0.8", "recall": ">= 0.99"}, threshold="max_f1", cv_folds=3,
        slices=["region", "a"],
    )  # fmt: skip
    ev = _evaluate(s, config, threshold_data=(s.X_test.iloc[:60], s.y_test.iloc[:60]))
    assert ev.primary_metric == "roc_auc" and ev.metrics["roc_auc"] > 0.8
    assert ev.beats_baseline and ev.baseline_metrics["roc_auc"] == pytest.approx(0.5)
    assert ev.threshold is not None and ev.threshold.rule == "max_f1"
    assert any("chosen on the validation split" in n for n in ev.notes)
    # Test labels use the chosen threshold, not 0.5.
    proba = s.pipeline.predict_proba(s.X_test)[:, 1]
    pred = np.where(proba >= ev.threshold.threshold, "yes", "no")
    assert ev.metrics["accuracy"] == pytest.approx(np.mean(pred == s.y_test.to_numpy()))
    assert not ev.gates.passed and ev.gates.failed[0].startswith("recall ")
    assert set(ev.cv) == {"roc_auc", "accuracy", "f1", "log_loss"}
    assert set(ev.slices) == {"region", "a"} and len(ev.slices["a"]) == 4
    assert {row["feature"] for row in ev.importance} == {"a", "b", "c", "d", "region"}
    assert ev.details["confusion_matrix"]["labels"] == ["no", "yes"]
    assert ev.classes == ["no", "yes"] and ev.positive_class == "yes"
    assert ev.rows == {"train": 300, "test": 150, "threshold": 60}
    text = json.dumps(ev.to_dict(), allow_nan=False)
    assert Evaluation.from_dict(json.loads(text)).to_dict() == ev.to_dict()


class _ScoreColumn:
    """A fitted 'model' whose positive-class probability is the frame's ``score`` column."""

    classes_ = np.array(["no", "yes"], dtype=object)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = X["score"].to_numpy(dtype=float)
        return np.column_stack([1 - p, p])

    def fit(self, X, y):  # cloned and refitted by cross-validation
        return self

    def get_params(self, deep: bool = True) -> dict:
        return {}


def test_threshold_on_training_data_and_fallback_warning() -> None:
    X = pd.DataFrame({"score": [0.9, 0.8, 0.7, 0.6, 0.3, 0.2]})
    y = pd.Series(["no", "yes", "yes", "no", "yes", "no"])
    config = EvaluateConfig(threshold="precision>=1.0", cv_folds=None, permutation_importance=False)
    ev = evaluate_model(
        _ScoreColumn(), task="binary", X_train=X, y_train=y, X_test=X, y_test=y, config=config,
        classes=None, positive_class="yes", seed=0, primary_metric=None, model_name="stub",
    )  # fmt: skip
    # The top score is a "no", so no cut-off reaches precision 1: fall back to max F1,
    # which here predicts "yes" from 0.3 up (TP 3, FP 2 -> F1 0.75).
    assert ev.threshold.rule == "max_f1" and ev.threshold.requested == "precision>=1"
    assert ev.threshold.threshold == pytest.approx(0.25)
    assert ev.warnings[0].startswith("threshold: no cut-off reaches precision >= 1")
    assert "threshold 0.25 chosen on the training split" in ev.notes
    assert ev.metrics["f1"] == pytest.approx(0.75)
    assert ev.cv is None and ev.importance == []


def test_a_useless_model_is_flagged(binary_split) -> None:
    from sklearn.dummy import DummyClassifier
    from sklearn.pipeline import Pipeline

    s = binary_split
    dummy = Pipeline([("model", DummyClassifier(strategy="most_frequent"))]).fit(
        s.X_train, s.y_train
    )
    config = EvaluateConfig(threshold="default", cv_folds=None, permutation_importance=False)
    ev = evaluate_model(
        dummy, task="binary", X_train=s.X_train, y_train=s.y_train, X_test=s.X_test,
        y_test=s.y_test, config=config, classes=None, positive_class="yes", seed=0,
        primary_metric="accuracy", model_name="dummy",
    )  # fmt: skip
    assert not ev.beats_baseline
    assert any(w.startswith("no better than the baseline: accuracy") for w in ev.warnings)


def test_overfitting_model_is_warned_about(binary_split) -> None:
    from sklearn.pipeline import Pipeline
    from sklearn.tree import DecisionTreeClassifier

    s = binary_split
    X_num = s.X_train[["a", "b", "c", "d"]]
    noisy = s.y_train.sample(frac=1.0, random_state=0).reset_index(drop=True)
    noisy.index = s.y_train.index
    tree = Pipeline([("model", DecisionTreeClassifier(random_state=0))]).fit(X_num, noisy)
    config = EvaluateConfig(threshold="default", cv_folds=None, permutation_importance=False)
    ev = evaluate_model(
        tree, task="binary", X_train=X_num, y_train=noisy, X_test=s.X_test[["a", "b", "c", "d"]],
        y_test=s.y_test, config=config, classes=None, positive_class="yes", seed=0,
        primary_metric="accuracy", model_name="tree",
    )  # fmt: skip
    assert ev.train_metrics["accuracy"] == pytest.approx(1.0)
    assert any("may be overfitting" in w for w in ev.warnings)


def test_regression_evaluation(regression_split) -> None:
    s = regression_split
    config = EvaluateConfig(gates={"r2": ">= 0.9", "rmse": "< 100"}, cv_folds=3)
    ev = evaluate_model(
        s.pipeline, task="regression", X_train=s.X_train, y_train=s.y_train, X_test=s.X_test,
        y_test=s.y_test, config=config, classes=None, positive_class=None, seed=0,
        primary_metric=None, model_name="ridge", curves={"valid_l2": [3.0, 2.0, 1.5]},
    )  # fmt: skip
    assert ev.primary_metric == "rmse" and ev.beats_baseline and ev.gates.passed
    assert ev.threshold is None and ev.classes is None and ev.positive_class is None
    assert len(ev.details["residual"]) == 100 and ev.curves == {"valid_l2": [3.0, 2.0, 1.5]}
    json.dumps(ev.to_dict(), allow_nan=False)


def test_config_errors_are_raised_before_work(binary_split) -> None:
    s = binary_split
    with pytest.raises(
        ConfigError, match=r"evaluate\.primary_metric: 'rmse' is not a binary metric"
    ):
        _evaluate(s, EvaluateConfig(), primary_metric="rmse")
    with pytest.raises(ConfigError, match=r"evaluate\.gates\.auc: unknown metric"):
        check_evaluate_config(EvaluateConfig(gates={"auc": ">= 0.8"}), task="binary")
    with pytest.raises(ConfigError, match=r"evaluate\.threshold: cannot read 'best'"):
        check_evaluate_config(EvaluateConfig(threshold="best"), task="binary")
    check_evaluate_config(EvaluateConfig(threshold="best"), task="regression")


def test_prediction_failures_become_model_errors(binary_split) -> None:
    s = binary_split
    broken = s.X_test.drop(columns=["region"])
    with pytest.raises(ModelError, match="logreg: predicting on the test split failed"):
        _evaluate(s, EvaluateConfig(cv_folds=None), X_test=broken)


@pytest.mark.slow
def test_churn_logistic_regression(churn_csv) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = pd.read_csv(churn_csv)
    y = frame.pop("churn")
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    categorical = [c for c in frame.columns if c not in numeric]
    pre = ColumnTransformer(
        [("num", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
         ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)]
    )  # fmt: skip
    pipe = Pipeline([("pre", pre), ("model", LogisticRegression(max_iter=500))])
    X_tr, X_rest, y_tr, y_rest = train_test_split(
        frame, y, test_size=0.3, stratify=y, random_state=0
    )
    X_va, X_te, y_va, y_te = train_test_split(
        X_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=0
    )
    pipe.fit(X_tr, y_tr)
    config = EvaluateConfig(
        gates={"roc_auc": ">= 0.8"}, threshold="recall>=0.7", cv_folds=3,
        slices=["contract", "tenure"],
    )  # fmt: skip
    ev = evaluate_model(
        pipe, task="binary", X_train=X_tr, y_train=y_tr, X_test=X_te, y_test=y_te, config=config,
        classes=list(pipe.classes_), positive_class="Yes", seed=0, primary_metric=None,
        model_name="churn-logreg", threshold_data=(X_va, y_va),
    )  # fmt: skip
    assert ev.metrics["roc_auc"] > 0.8 and ev.gates.passed and ev.beats_baseline
    assert ev.threshold.rule == "recall>=0.7" and ev.threshold.achieved["recall"] >= 0.7
    assert ev.metrics["recall"] > 0.6
    assert {e["value"] for e in ev.slices["contract"]} == {"Month-to-month", "One year", "Two year"}
    assert ev.importance[0]["feature"] in {"tenure", "contract", "total_charges", "monthly_charges"}
    assert not any("overfitting" in w for w in ev.warnings)
    json.dumps(ev.to_dict(), allow_nan=False)
