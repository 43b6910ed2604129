from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.errors import ConfigError, DataError, ModelError
from conveyor.evaluate import (
    classification_details,
    compute_metrics,
    default_primary_metric,
    greater_is_better,
    metric_names,
    regression_details,
)
from conveyor.evaluate._common import to_jsonable

# Hand-worked binary example: at 0.5 the predictions are [1, 0, 0, 1, 1]
# -> TP 2, FP 1, FN 1, TN 1.
Y = [1, 1, 0, 0, 1]
P = [0.9, 0.4, 0.35, 0.8, 0.7]


def test_binary_metrics_match_hand_computed_values() -> None:
    m = compute_metrics("binary", Y, y_proba=P, classes=[0, 1], positive_class=1)
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert m["f1_macro"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    # 4 of the 6 (positive, negative) pairs are ordered correctly.
    assert m["roc_auc"] == pytest.approx(4 / 6)
    # Ranked: P N P P N -> precision at each positive 1, 2/3, 3/4.
    assert m["pr_auc"] == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)
    assert m["brier"] == pytest.approx((0.01 + 0.36 + 0.1225 + 0.64 + 0.09) / 5)
    expected_ll = -np.mean(np.log([0.9, 0.4, 0.65, 0.2, 0.7]))
    assert m["log_loss"] == pytest.approx(expected_ll)
    assert m.notes == []


def test_threshold_changes_labels_but_not_ranking_metrics() -> None:
    m = compute_metrics("binary", Y, y_proba=P, classes=[0, 1], positive_class=1, threshold=0.75)
    # At 0.75: predictions [1, 0, 0, 1, 0] -> TP 1, FP 1, FN 2.
    assert m["precision"] == pytest.approx(1 / 2)
    assert m["recall"] == pytest.approx(1 / 3)
    assert m["roc_auc"] == pytest.approx(4 / 6)


def test_positive_class_is_respected_with_string_labels() -> None:
    y = ["no", "no", "yes", "yes"]
    proba = [[0.8, 0.2], [0.3, 0.7], [0.4, 0.6], [0.1, 0.9]]
    as_yes = compute_metrics(
        "binary", y, y_proba=proba, classes=["no", "yes"], positive_class="yes"
    )
    as_no = compute_metrics("binary", y, y_proba=proba, classes=["no", "yes"], positive_class="no")
    assert as_yes["recall"] == pytest.approx(1.0)
    assert as_yes["precision"] == pytest.approx(2 / 3)
    assert as_no["recall"] == pytest.approx(1 / 2)
    assert as_no["precision"] == pytest.approx(1.0)
    assert as_yes["roc_auc"] == pytest.approx(as_no["roc_auc"])


def test_one_dimensional_positive_probabilities_are_accepted() -> None:
    full = compute_metrics(
        "binary", Y, y_proba=np.column_stack([1 - np.array(P), P]), classes=[0, 1]
    )
    flat = compute_metrics("binary", Y, y_proba=P, classes=[0, 1])
    assert dict(full) == pytest.approx(dict(flat))


def test_single_class_y_true_omits_undefined_metrics_with_notes() -> None:
    m = compute_metrics("binary", [1, 1, 1], y_proba=[0.9, 0.2, 0.7], classes=[0, 1])
    assert "roc_auc" not in m and "pr_auc" not in m
    assert any(n.startswith("roc_auc, pr_auc: not defined") for n in m.notes)
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert all(math.isfinite(v) for v in m.values())
    json.dumps(dict(m), allow_nan=False)


def test_no_positive_predictions_and_no_positive_rows() -> None:
    m = compute_metrics("binary", [0, 0, 0], y_pred=[0, 0, 0], classes=[0, 1], positive_class=1)
    assert m["precision"] == 0.0
    assert "recall" not in m and "f1" not in m
    assert any("reported as 0" in n for n in m.notes)
    assert any("recall, f1: not defined" in n for n in m.notes)


def test_without_probabilities_the_probability_metrics_are_explained() -> None:
    m = compute_metrics("binary", Y, y_pred=[1, 0, 0, 1, 1], classes=[0, 1])
    assert m["accuracy"] == pytest.approx(0.6)
    assert not {"roc_auc", "pr_auc", "log_loss", "brier"} & set(m)
    assert any("no probabilities" in n for n in m.notes)


def test_multiclass_metrics() -> None:
    y = ["a", "b", "c", "a"]
    proba = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.3, 0.3, 0.4], [0.4, 0.5, 0.1]])
    m = compute_metrics("multiclass", y, y_proba=proba, classes=["a", "b", "c"])
    # argmax: a, b, c, b -> 3 of 4 right.
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["f1"] == m["f1_macro"]
    onehot = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]])
    assert m["brier"] == pytest.approx(np.mean((onehot - proba) ** 2))
    assert 0.0 <= m["roc_auc"] <= 1.0
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.7, 0.5, 0.4, 0.4])))


def test_multiclass_auc_skips_a_class_absent_from_y_true() -> None:
    proba = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
    m = compute_metrics("multiclass", ["a", "b", "a"], y_proba=proba, classes=["a", "b", "c"])
    assert m["roc_auc"] == pytest.approx(1.0)
    assert any("over 2 of 3 classes" in n and "'c'" in n for n in m.notes)


def test_regression_metrics_match_hand_computed_values() -> None:
    m = compute_metrics("regression", [1, 2, 0, 4], y_pred=[2, 2, 1, 2])
    assert m["rmse"] == pytest.approx(math.sqrt(6 / 4))
    assert m["mae"] == pytest.approx(1.0)
    assert m["median_ae"] == pytest.approx(1.0)
    assert m["max_error"] == pytest.approx(2.0)
    assert m["r2"] == pytest.approx(1 - 6 / 8.75)
    assert m["mape"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert m.notes == ["mape: ignored 1 of 4 rows where y_true is 0"]


def test_regression_undefined_metrics() -> None:
    m = compute_metrics("regression", [0.0, 0.0], y_pred=[1.0, -1.0])
    assert "r2" not in m and "mape" not in m
    assert len(m.notes) == 2


def test_regression_rejects_nan_predictions() -> None:
    with pytest.raises(DataError, match="NaN or infinite"):
        compute_metrics("regression", [1.0, 2.0], y_pred=[1.0, float("nan")])


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(ConfigError, match="task"):
        compute_metrics("ranking", [1], y_pred=[1])
    with pytest.raises(DataError, match="empty"):
        compute_metrics("binary", [], y_pred=[])
    with pytest.raises(ModelError, match="needs y_pred or y_proba"):
        compute_metrics("binary", [0, 1])
    with pytest.raises(ModelError, match=r"expected shape \(2, 2\)"):
        compute_metrics("binary", [0, 1], y_proba=[[0.2, 0.3, 0.5]] * 2, classes=[0, 1])
    with pytest.raises(ConfigError, match="positive_class: 'maybe' is not one of the classes"):
        compute_metrics(
            "binary", [0, 1], y_proba=[0.1, 0.9], classes=[0, 1], positive_class="maybe"
        )
    with pytest.raises(ConfigError, match="exactly 2 classes"):
        compute_metrics("binary", [0, 1, 2], y_pred=[0, 1, 2])


def test_positive_class_given_as_text_matches_integer_classes() -> None:
    m = compute_metrics("binary", Y, y_proba=P, classes=[0, 1], positive_class="1")
    assert m["recall"] == pytest.approx(2 / 3)


def test_metric_registry() -> None:
    assert default_primary_metric("binary") == "roc_auc"
    assert default_primary_metric("multiclass") == "f1_macro"
    assert default_primary_metric("regression") == "rmse"
    assert greater_is_better("roc_auc") and not greater_is_better("rmse")
    assert not greater_is_better("log_loss")
    assert "mape" in metric_names("regression") and "mape" not in metric_names("binary")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.floats(0, 1)), min_size=1, max_size=40),
    st.floats(0.01, 0.99),
)
def test_binary_metrics_are_never_nan(rows: list[tuple[bool, float]], threshold: float) -> None:
    y = [int(a) for a, _ in rows]
    p = [b for _, b in rows]
    m = compute_metrics("binary", y, y_proba=p, classes=[0, 1], threshold=threshold)
    json.dumps(dict(m), allow_nan=False)
    for name in ("accuracy", "balanced_accuracy", "precision", "f1_macro", "brier"):
        assert 0.0 <= m[name] <= 1.0
    assert ("roc_auc" in m) == (0 < sum(y) < len(y))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3)), min_size=1, max_size=40))
def test_regression_error_ordering(rows: list[tuple[float, float]]) -> None:
    y, pred = zip(*rows)
    m = compute_metrics("regression", list(y), y_pred=list(pred))
    json.dumps(dict(m), allow_nan=False)
    assert 0 <= m["mae"] <= m["rmse"] * (1 + 1e-9) + 1e-12
    assert m["rmse"] <= m["max_error"] * (1 + 1e-9) + 1e-12


def test_classification_details_binary() -> None:
    d = classification_details(Y, y_proba=P, classes=[0, 1], positive_class=1)
    assert d["confusion_matrix"] == {"labels": ["0", "1"], "matrix": [[1, 1], [1, 2]]}
    (roc,) = d["roc"]
    assert roc["fpr"][0] == 0.0 and roc["tpr"][-1] == 1.0
    assert roc["auc"] == pytest.approx(4 / 6)
    (pr,) = d["pr"]
    assert pr["recall"][-1] == 0.0 and pr["thresholds"][-1] is None
    (cal,) = d["calibration"]
    assert sum(cal["counts"]) == 5 and len(cal["prob_pred"]) <= 10
    json.dumps(d, allow_nan=False)


def test_classification_curves_are_thinned() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 5000)
    p = np.clip(y * 0.3 + rng.random(5000) * 0.7, 0, 1)
    d = classification_details(y, y_proba=p, classes=[0, 1], max_points=200)
    assert len(d["roc"][0]["fpr"]) <= 200 and len(d["pr"][0]["precision"]) <= 200
    assert d["roc"][0]["fpr"][-1] == 1.0


def test_classification_details_multiclass_has_a_curve_per_class() -> None:
    proba = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.3, 0.3, 0.4], [0.4, 0.5, 0.1]])
    d = classification_details(["a", "b", "c", "a"], y_proba=proba, classes=["a", "b", "c"])
    assert [c["label"] for c in d["roc"]] == ["a", "b", "c"]
    assert d["confusion_matrix"]["matrix"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_regression_details_sample_and_summary() -> None:
    y = np.arange(5000, dtype=float)
    d = regression_details(y, y + 1.0, seed=3, max_points=2000)
    assert d["rows"] == 5000 and d["sampled"] is True
    assert len(d["actual"]) == len(d["predicted"]) == len(d["residual"]) == 2000
    assert d["residual_summary"]["mean"] == pytest.approx(1.0)
    assert d == regression_details(y, y + 1.0, seed=3, max_points=2000)


def test_to_jsonable_converts_numpy_and_nan() -> None:
    value = {"a": np.float64("nan"), "b": np.int64(3), "c": np.array([1.5, np.inf]), 1: (True,)}
    assert to_jsonable(value) == {"a": None, "b": 3, "c": [1.5, None], "1": [True]}
    assert to_jsonable(pd.Timestamp("2026-01-02")) == "2026-01-02T00:00:00"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(["a", "b", "c", "e"])),
        min_size=1,
        max_size=40,
    )
)
def test_label_metrics_agree_with_scikit_learn(rows: list[tuple[str, str]]) -> None:
    import warnings

    from sklearn import metrics as skm

    y, pred = (list(v) for v in zip(*rows))
    ours = compute_metrics("multiclass", y, y_pred=pred, classes=["a", "b", "c"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert ours["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
        assert ours["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
        for avg in ("macro", "weighted"):
            assert ours[f"f1_{avg}"] == pytest.approx(
                skm.f1_score(y, pred, average=avg, zero_division=0)
            )
        assert ours["precision_macro"] == pytest.approx(
            skm.precision_score(y, pred, average="macro", zero_division=0)
        )
        assert ours["recall_macro"] == pytest.approx(
            skm.recall_score(y, pred, average="macro", zero_division=0)
        )
