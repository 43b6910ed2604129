from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.errors import ModelError
from conveyor.train import METRICS, default_primary_metric, greater_is_better, score_predictions
from conveyor.train.scoring import metrics_for_task


def test_defaults_and_directions() -> None:
    assert default_primary_metric("binary") == "roc_auc"
    assert default_primary_metric("multiclass") == "f1_macro"
    assert default_primary_metric("regression") == "rmse"
    assert greater_is_better("roc_auc") and greater_is_better("r2")
    assert not greater_is_better("log_loss") and not greater_is_better("rmse")
    with pytest.raises(ModelError, match="unknown task"):
        default_primary_metric("ranking")


def test_every_task_has_its_default_metric() -> None:
    for task in ("binary", "multiclass", "regression"):
        assert default_primary_metric(task) in metrics_for_task(task)
    assert set(metrics_for_task("binary")) | set(metrics_for_task("regression")) == set(METRICS)


def test_unknown_metric_suggests() -> None:
    with pytest.raises(ModelError, match=r"unknown metric 'roc_uac' \(did you mean 'roc_auc'\?\)"):
        greater_is_better("roc_uac")


def test_metric_for_wrong_task() -> None:
    with pytest.raises(ModelError, match="metric 'rmse' does not apply to task 'binary'"):
        score_predictions("binary", [0, 1], [0, 1], None, metric="rmse", classes=[0, 1])


def test_binary_metrics_with_string_labels_use_last_class_as_positive() -> None:
    y = np.array(["no", "yes", "yes", "no"], dtype=object)
    pred = np.array(["no", "yes", "no", "no"], dtype=object)
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    kw = {"classes": ["no", "yes"]}
    assert score_predictions("binary", y, pred, proba, metric="accuracy", **kw) == 0.75
    assert score_predictions("binary", y, pred, proba, metric="recall", **kw) == 0.5
    assert score_predictions("binary", y, pred, proba, metric="roc_auc", **kw) == 1.0
    flipped = score_predictions("binary", y, pred, proba, metric="roc_auc", pos_label="no", **kw)
    assert flipped == 1.0
    assert score_predictions("binary", y, pred, proba, metric="recall", pos_label="no", **kw) == 1.0


def test_roc_auc_from_decision_scores() -> None:
    y = np.array([0, 1, 1, 0])
    scores = np.array([-2.0, 1.0, 0.5, -0.1])
    assert score_predictions("binary", y, y, scores, metric="roc_auc", classes=[0, 1]) == 1.0
    assert (
        score_predictions("binary", y, y, scores, metric="roc_auc", classes=[0, 1], pos_label=0)
        == 1.0
    )


def test_multiclass_roc_auc_and_log_loss() -> None:
    y = np.array(["a", "b", "c", "a"], dtype=object)
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]])
    kw = {"classes": ["a", "b", "c"]}
    assert score_predictions("multiclass", y, y, proba, metric="roc_auc", **kw) == 1.0
    expected = -np.mean(np.log([0.8, 0.8, 0.8, 0.6]))
    assert score_predictions("multiclass", y, y, proba, metric="log_loss", **kw) == pytest.approx(
        expected
    )


def test_proba_metric_without_proba_is_an_error() -> None:
    with pytest.raises(ModelError, match="needs predicted probabilities"):
        score_predictions("binary", [0, 1], [0, 1], None, metric="log_loss", classes=[0, 1])


def test_undefined_metric_is_nan() -> None:
    value = score_predictions(
        "binary", [1, 1], [1, 1], np.array([0.2, 0.9]), metric="roc_auc", classes=[0, 1]
    )
    assert math.isnan(value)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=30).flatmap(
        lambda ys: st.tuples(
            st.just(ys), st.lists(st.floats(-1e3, 1e3), min_size=len(ys), max_size=len(ys))
        )
    )
)
def test_regression_metrics_properties(pair: tuple[list[float], list[float]]) -> None:
    y, p = pair
    rmse = score_predictions("regression", y, p, None, metric="rmse", classes=None)
    mae = score_predictions("regression", y, p, None, metric="mae", classes=None)
    assert rmse >= mae - 1e-9 >= -1e-9
    assert score_predictions("regression", y, y, None, metric="rmse", classes=None) == 0.0
