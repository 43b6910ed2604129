from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conveyor.evaluate import beats_baseline, compute_metrics, evaluate_baseline, overfit_warning


def test_prior_baseline_on_imbalanced_labels() -> None:
    y_train = pd.Series(["no"] * 8 + ["yes"] * 2)
    y_test = pd.Series(["no"] * 3 + ["yes"])
    X = pd.DataFrame({"a": range(10)})
    base = evaluate_baseline(
        "binary", X, y_train, X.iloc[:4], y_test,
        classes=["no", "yes"], positive_class="yes", seed=0,
    )  # fmt: skip
    assert base["accuracy"] == pytest.approx(0.75)  # always "no"
    assert base["roc_auc"] == pytest.approx(0.5)  # constant scores
    assert base["recall"] == 0.0
    # Constant probability 0.2 for "yes": Brier = (3 * 0.04 + 0.64) / 4.
    assert base["brier"] == pytest.approx((3 * 0.04 + 0.64) / 4)


def test_mean_baseline_for_regression() -> None:
    y_train = pd.Series([1.0, 2.0, 3.0])
    y_test = pd.Series([2.0, 4.0])
    X = pd.DataFrame({"a": [0, 0, 0]})
    base = evaluate_baseline(
        "regression", X, y_train, X.iloc[:2], y_test, classes=None, positive_class=None, seed=0
    )
    assert base["mae"] == pytest.approx(1.0)  # predicts 2.0
    assert base["rmse"] == pytest.approx(np.sqrt(2.0))


def test_a_majority_class_model_does_not_beat_the_baseline() -> None:
    y_train = pd.Series([0] * 7 + [1] * 3)
    y_test = pd.Series([0, 0, 1, 0, 1])
    X = pd.DataFrame({"a": range(10)})
    base = evaluate_baseline(
        "binary", X, y_train, X.iloc[:5], y_test, classes=[0, 1], positive_class=1, seed=0
    )
    majority = compute_metrics(
        "binary", y_test, y_pred=[0] * 5, y_proba=[[0.9, 0.1]] * 5, classes=[0, 1]
    )
    for metric in ("accuracy", "roc_auc"):
        ok, reason = beats_baseline("binary", metric, majority, base)
        assert not ok
        assert "is not better than the baseline's" in reason


def test_beats_baseline_respects_metric_direction() -> None:
    ok, reason = beats_baseline("regression", "rmse", {"rmse": 1.0}, {"rmse": 2.0})
    assert ok and reason.startswith("rmse 1 beats the baseline's 2 (predicting the mean) by 1")
    ok, reason = beats_baseline("regression", "rmse", {"rmse": 3.0}, {"rmse": 2.0})
    assert not ok and "it is 1 higher" in reason
    ok, _ = beats_baseline("binary", "roc_auc", {"roc_auc": 0.81}, {"roc_auc": 0.5})
    assert ok


def test_missing_metric_cannot_beat_the_baseline() -> None:
    ok, reason = beats_baseline("binary", "roc_auc", {"accuracy": 1.0}, {"roc_auc": 0.5})
    assert not ok and "could not be computed for the model" in reason
    ok, reason = beats_baseline("binary", "roc_auc", {"roc_auc": 0.9}, {})
    assert not ok and "could not be computed for the baseline" in reason


def test_overfit_warning_for_scores_uses_the_absolute_gap() -> None:
    assert overfit_warning(0.95, 0.9, metric="roc_auc", gap=0.1) is None
    message = overfit_warning(0.99, 0.8, metric="roc_auc", gap=0.1)
    assert message == (
        "roc_auc is 0.99 on train but 0.8 on test (gap 0.19 > 0.1): the model may be overfitting"
    )


def test_overfit_warning_for_errors_uses_the_relative_gap() -> None:
    assert overfit_warning(95.0, 100.0, metric="rmse", gap=0.1) is None
    message = overfit_warning(50.0, 100.0, metric="rmse", gap=0.1)
    assert message is not None and "relative gap 0.5 > 0.1" in message
    # A better test than train score is never overfitting.
    assert overfit_warning(120.0, 100.0, metric="rmse", gap=0.1) is None
    assert overfit_warning(float("nan"), 0.5, metric="roc_auc", gap=0.1) is None
