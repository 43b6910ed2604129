from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conveyor.errors import ConfigError
from conveyor.evaluate import permutation_importance_table


def _informative_data(n: int = 600):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "noise_a": rng.normal(size=n),
            "signal": rng.normal(size=n),
            "noise_b": rng.normal(size=n),
            "colour": rng.choice(["red", "blue"], size=n),
        }
    )
    y = pd.Series(np.where(X["signal"] + 0.3 * rng.normal(size=n) > 0, "pos", "neg"))
    return X, y


def _pipeline():
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer(
        [("num", StandardScaler(), ["noise_a", "signal", "noise_b"]),
         ("cat", OneHotEncoder(), ["colour"])]
    )  # fmt: skip
    return Pipeline([("pre", pre), ("model", LogisticRegression())])


def test_informative_raw_column_ranks_first() -> None:
    X, y = _informative_data()
    pipe = _pipeline().fit(X, y)
    table = permutation_importance_table(
        pipe, X, y, task="binary", metric="roc_auc", seed=0, n_repeats=3, max_rows=300,
        positive_class="pos",
    )  # fmt: skip
    assert table[0]["feature"] == "signal"
    assert {row["feature"] for row in table} == {"noise_a", "signal", "noise_b", "colour"}
    assert table[0]["importance_mean"] > 0.2
    assert all(abs(row["importance_mean"]) < 0.05 for row in table[1:])
    # Importance is positive for losses too (the loss grows when the column is shuffled).
    loss_table = permutation_importance_table(
        pipe, X, y, task="binary", metric="log_loss", seed=0, n_repeats=2, max_rows=300
    )
    assert loss_table[0]["feature"] == "signal" and loss_table[0]["importance_mean"] > 0


def test_regression_importance_and_bad_metric(regression_split) -> None:
    s = regression_split
    table = permutation_importance_table(
        s.pipeline, s.X_test, s.y_test, task="regression", metric="rmse", seed=0, n_repeats=2
    )
    assert len(table) == 3
    means = [row["importance_mean"] for row in table]
    assert means == sorted(means, reverse=True)
    with pytest.raises(ConfigError, match="'roc_auc' is not a regression metric"):
        permutation_importance_table(
            s.pipeline, s.X_test, s.y_test, task="regression", metric="roc_auc", seed=0
        )


def test_matches_scikit_learn_permutation_importance() -> None:
    """Stacking the shuffled copies changes the cost, not the definition."""
    from sklearn.inspection import permutation_importance

    X, y = _informative_data(400)
    pipe = _pipeline().fit(X, y)
    ours = permutation_importance_table(
        pipe, X, y, task="binary", metric="accuracy", seed=3, n_repeats=20, positive_class="pos",
        threshold=0.5,
    )  # fmt: skip
    theirs = permutation_importance(pipe, X, y, scoring="accuracy", n_repeats=20, random_state=3)
    expected = dict(zip(X.columns, theirs.importances_mean))
    for row in ours:
        # different shuffles, same quantity: agree within the shuffles' noise
        assert row["importance_mean"] == pytest.approx(expected[row["feature"]], abs=0.02)
