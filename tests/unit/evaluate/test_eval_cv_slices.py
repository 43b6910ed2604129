from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conveyor.errors import ConfigError, DataError, ModelError
from conveyor.evaluate import compute_metrics, cross_validate_scores, slice_metrics


def test_cross_validation_mean_and_std(binary_split) -> None:
    from sklearn.base import clone

    s = binary_split
    cv = cross_validate_scores(
        clone(s.pipeline), s.X_train, s.y_train, task="binary", folds=3, seed=0,
        metrics=["roc_auc", "accuracy", "roc_auc"], positive_class="yes",
    )  # fmt: skip
    assert list(cv) == ["roc_auc", "accuracy"]
    folds = cv["roc_auc"]["folds"]
    assert len(folds) == 3
    assert cv["roc_auc"]["mean"] == pytest.approx(np.mean(folds))
    assert cv["roc_auc"]["std"] == pytest.approx(np.std(folds))
    assert 0.7 < cv["roc_auc"]["mean"] <= 1.0
    again = cross_validate_scores(
        s.pipeline, s.X_train, s.y_train, task="binary", folds=3, seed=0,
        metrics=["roc_auc", "accuracy"], positive_class="yes",
    )  # fmt: skip
    assert again == cv  # seeded, and a fitted pipeline is cloned, not reused
    one_thread = cross_validate_scores(
        s.pipeline, s.X_train, s.y_train, task="binary", folds=3, seed=0,
        metrics=["roc_auc", "accuracy"], positive_class="yes", n_jobs=1,
    )  # fmt: skip
    assert one_thread == cv  # folds on threads give the very same scores, in fold order


def test_cross_validation_regression(regression_split) -> None:
    s = regression_split
    cv = cross_validate_scores(
        s.pipeline, s.X_train, s.y_train, task="regression", folds=4, seed=1, metrics=["rmse", "r2"]
    )
    assert len(cv["rmse"]["folds"]) == 4 and cv["r2"]["mean"] > 0.9


def test_cross_validation_bad_inputs(binary_split) -> None:
    s = binary_split
    with pytest.raises(ConfigError, match="unknown metric"):
        cross_validate_scores(
            s.pipeline, s.X_train, s.y_train, task="binary", folds=3, seed=0, metrics=["rmse"]
        )
    tiny_y = pd.Series(["a"] * 10 + ["b"] * 2)
    with pytest.raises(DataError, match="class 'b' has 2"):
        cross_validate_scores(
            s.pipeline, s.X_train.iloc[:12], tiny_y, task="binary", folds=3, seed=0,
            metrics=["accuracy"],
        )  # fmt: skip


def test_a_fold_that_fails_to_fit_is_a_model_error(binary_split) -> None:
    from sklearn.base import BaseEstimator, ClassifierMixin

    class Broken(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            raise ValueError("boom")

    s = binary_split
    with pytest.raises(ModelError, match=r"fold 1 of 3: fitting failed: ValueError: boom"):
        cross_validate_scores(
            Broken(), s.X_train, s.y_train, task="binary", folds=3, seed=0, metrics=["accuracy"]
        )


def _slice_inputs():
    rng = np.random.default_rng(0)
    n = 200
    X = pd.DataFrame(
        {
            "region": np.where(np.arange(n) < 150, "north", "south"),
            "age": np.arange(n, dtype=float),
            "flag": np.arange(n) % 2,
        }
    )
    X.loc[:9, "region"] = None
    X.loc[195:, "region"] = "tiny"
    y = pd.Series(rng.integers(0, 2, n))
    proba = rng.random(n)
    pred = (proba >= 0.5).astype(int)
    return X, y, pred, np.column_stack([1 - proba, proba])


def test_slices_by_category_and_by_quartile() -> None:
    X, y, pred, proba = _slice_inputs()
    out = slice_metrics(
        "binary", X, y, pred, proba, columns=["region", "age", "flag"],
        classes=[0, 1], positive_class=1, min_rows=20,
    )  # fmt: skip
    region = {e["value"]: e for e in out["region"]}
    assert [e["value"] for e in out["region"]] == ["north", "south", "tiny", "(missing)"]
    assert region["north"]["rows"] == 140 and region["(missing)"]["rows"] == 10
    assert region["tiny"]["metrics"] == {} and "fewer than 20 rows" in region["tiny"]["notes"][0]
    mask = (X["region"] == "north").to_numpy()
    expected = compute_metrics(
        "binary", y[mask], y_pred=pred[mask], y_proba=proba[mask], classes=[0, 1]
    )
    assert region["north"]["metrics"] == pytest.approx(dict(expected))
    age = out["age"]
    assert [e["rows"] for e in age] == [50, 50, 50, 50]
    assert age[0]["value"].startswith("[0, ") and age[-1]["value"].endswith(", 199]")
    # Few distinct numeric values slice by value, not by quartile.
    assert sorted(e["value"] for e in out["flag"]) == ["0", "1"]


def test_slices_for_regression_and_unknown_column() -> None:
    X = pd.DataFrame({"g": ["a"] * 30 + ["b"] * 30})
    y = pd.Series(np.arange(60, dtype=float))
    out = slice_metrics(
        "regression", X, y, y + 1.0, None, columns=["g"], classes=None, positive_class=None
    )
    assert [e["metrics"]["mae"] for e in out["g"]] == [1.0, 1.0]
    with pytest.raises(
        ConfigError, match=r"evaluate.slices: column 'gg' .* \(did you mean 'g'\?\)"
    ):
        slice_metrics(
            "regression", X, y, y, None, columns=["gg"], classes=None, positive_class=None
        )
